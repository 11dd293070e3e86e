"""boto3 clients: created lazily, once per service and region, with a retry policy per call.

Reads (``Describe*``, ``List*``, ``Get*``...) are retried by botocore: they change nothing.
Mutating calls are never retried blindly, because a 5xx, a timeout or a dropped connection
can come *after* the server acted, and a retried create then makes a second resource:

- an error that proves the server did not act is retried here: throttling, and a "not
  found" for an id that was created a moment ago (AWS is eventually consistent: a new group
  or instance profile is not visible to every API at once), for a bounded time;
- an error that leaves the outcome open becomes `OutcomeUnknownError`; the engine looks the
  resource up by its ``infradsl:token`` tag before it retries anything.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from infradsl.providers.handler import CloudUnreachableError, OutcomeUnknownError, notify

__all__ = [
    "CONSISTENCY_TIMEOUT",
    "CallerIdentity",
    "Clients",
    "add_event_hook",
    "check_reachable",
    "is_consistency_error",
    "is_read_only",
    "prewarm",
]

# Hooks added for the whole process (tests inject faults and record calls through these;
# see `add_event_hook`). Read when a client is created.
_process_hooks: list[tuple[str, Callable[..., Any]]] = []

CONSISTENCY_TIMEOUT = 60.0
"""Seconds a mutating call is retried while AWS says an id it names does not exist yet."""

THROTTLE_ATTEMPTS = 8
"""Attempts of a mutating call that AWS refuses as throttled (it did not act)."""

_READ_ONLY = re.compile(r"^(Describe|List|Get|Head|Lookup|Search|Select|Check|Validate)")
# Calls that remove or detach: "not found" there means "already done", never "not yet".
_REMOVING = re.compile(r"^(Delete|Terminate|Release|Detach|Disassociate|Revoke|Remove|Untag)")
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)
# "Not found" codes that right after a create mean "not visible yet".
_NOT_YET = frozenset({"NoSuchEntity", "ResourceNotFoundException", "NatGatewayNotFound"})
_PROFILE_NOT_YET = re.compile(r"instance profile|iamInstanceProfile", re.IGNORECASE)


_session_lock = threading.Lock()
_session: Any = None


def _shared_session() -> Any:
    """One boto3 session per process (the caller holds ``_session_lock``): clients made from
    it share the loaded service models, so a second client of a service costs ~10 ms, not
    the ~200 ms of loading the model again."""
    global _session
    if _session is None:
        import boto3

        _session = boto3.session.Session()
    return _session


def add_event_hook(event: str, handler: Callable[..., Any]) -> Callable[[], None]:
    """Register ``handler`` for a botocore event on every client created from now on.

    Args:
        event: e.g. ``"before-call.ec2.RunInstances"`` or ``"before-call"`` (all calls).
        handler: botocore's handler signature (keyword arguments); returning a
            ``(http_response, parsed)`` pair from a ``before-call`` hook short-circuits
            the call, which is how failures are injected.

    Returns:
        A function that removes the hook again.
    """
    entry = (event, handler)
    _process_hooks.append(entry)
    return lambda: _process_hooks.remove(entry) if entry in _process_hooks else None


@attrs.frozen
class CallerIdentity:
    """Who infradsl acts as, and where (what `check_reachable` found).

    Attributes:
        account: the AWS account id.
        arn: the caller's ARN (a user, or an assumed role's session).
        region: the region asked.
    """

    account: str
    arn: str
    region: str


def prewarm(clients: Clients, services: Iterable[str]) -> None:
    """Create the clients of ``services`` in the background (a client loads its service
    model, 0.1-0.3 s each), while the app is planned, instead of at the first call."""

    def make() -> None:
        for service in sorted(services):
            with contextlib.suppress(Exception):  # the first real call reports any problem
                clients.client(service)

    threading.Thread(target=make, name="infradsl-prewarm", daemon=True).start()


def check_reachable(clients: Clients) -> CallerIdentity:
    """One cheap read (STS GetCallerIdentity), so that a dead endpoint or missing credentials
    are reported before anything changes rather than as failed creates.

    Returns:
        The account and caller the credentials belong to, in the clients' region.

    Raises:
        CloudUnreachableError: the endpoint does not answer, or the credentials are missing
            or refused.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = clients.endpoint_url or f"AWS ({clients.region})"
    try:
        identity = clients.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise CloudUnreachableError(
            f"no AWS credentials found for {where}; nothing was changed. Configure them as "
            "for the AWS CLI (AWS_PROFILE, `aws configure`, or an assumed role)"
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise CloudUnreachableError(
            f"{where} refused the credentials ({code}: {error}); nothing was changed"
        ) from None
    except BotoCoreError as error:
        raise CloudUnreachableError(
            f"cannot reach {where}: {error}; nothing was changed. Check the network, or "
            "the endpoint in INFRADSL_LOCAL_ENDPOINT / AWS_ENDPOINT_URL"
        ) from None
    return CallerIdentity(
        account=str(identity.get("Account", "")),
        arn=str(identity.get("Arn", "")),
        region=clients.region,
    )


def is_read_only(operation: str) -> bool:
    """True for API operations that change nothing (``DescribeVpcs``, ``GetRole``...)."""
    return bool(_READ_ONLY.match(operation))


def is_consistency_error(operation: str, code: str, message: str) -> bool:
    """True when a mutating call failed because an id it names is not visible yet.

    Not for calls that remove something: there "not found" means it is already gone.
    """
    if _REMOVING.match(operation):
        return False
    if code.endswith(".NotFound") or code in _NOT_YET:
        return True
    # RunInstances names an instance profile created a moment ago.
    return code == "InvalidParameterValue" and bool(_PROFILE_NOT_YET.search(message))


class Clients:
    """A `ClientProvider` for one region and endpoint.

    Creating a client loads its service model (about half a second), so clients are made
    on first use and shared by every worker thread (boto3 clients are thread-safe).

    Args:
        region: the AWS region.
        endpoint_url: the local cloud's URL, or ``None`` for real AWS.
        hooks: ``(event_name, handler)`` pairs registered on every client's event system,
            e.g. ``("before-call.ec2.RunInstances", fail)``: the fault-injection seam.
    """

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        hooks: list[tuple[str, Callable[..., Any]]] | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.hooks = list(hooks or [])
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """Return the shared client for ``service``."""
        with self._lock:
            existing = self._clients.get(service)
            if existing is not None:
                return existing
            reads = self._make(service, retries={"max_attempts": 5, "mode": "standard"})
            # One attempt: whether and how a mutating call is retried is decided by `_Client`.
            writes = self._make(service, retries={"total_max_attempts": 1, "mode": "standard"})
            made = _Client(service, reads, writes)
            self._clients[service] = made
            return made

    def _make(self, service: str, retries: dict[str, Any]) -> Any:
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            retries=retries,  # type: ignore[arg-type]
            max_pool_connections=64,
            connect_timeout=10,
            read_timeout=60,
        )
        kwargs: dict[str, Any] = {"config": config}
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
            kwargs.setdefault("aws_access_key_id", "testing")
            kwargs.setdefault("aws_secret_access_key", "testing")
        with _session_lock:
            created = _shared_session().client(service, **kwargs)
        for event, handler in [*self.hooks, *_process_hooks]:
            created.meta.events.register(event, handler)
        return created


class _Client:
    """One service's client: reads go to a retrying client, mutating calls through
    `_mutate` on a client that never retries on its own."""

    def __init__(self, service: str, reads: Any, writes: Any) -> None:
        self._service = service
        self._reads = reads
        self._writes = writes
        self._names: dict[str, str] = reads.meta.method_to_api_mapping

    def __getattr__(self, name: str) -> Any:
        operation = self._names.get(name)
        if operation is None or is_read_only(operation):
            return getattr(self._reads, name)
        method = getattr(self._writes, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._mutate(operation, method, args, kwargs)

        call.__name__ = name
        return call

    def _mutate(self, operation: str, method: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            HTTPClientError,
        )

        what = f"{self._service}.{operation}"
        started = time.monotonic()
        throttled = 0
        while True:
            try:
                return method(*args, **kwargs)
            except ClientError as error:
                info = error.response.get("Error", {})
                code, message = str(info.get("Code", "")), str(info.get("Message", ""))
                status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if code in _THROTTLED or status == 429:
                    throttled += 1
                    if throttled >= THROTTLE_ATTEMPTS:
                        raise
                    delay = _backoff(throttled)
                    notify(f"{what} throttled; retrying in {delay:.1f}s")
                elif is_consistency_error(operation, code, message):
                    waited = time.monotonic() - started
                    if waited >= CONSISTENCY_TIMEOUT:
                        raise
                    delay = min(_backoff(int(waited) + 1), CONSISTENCY_TIMEOUT - waited)
                    notify(f"{what}: {code}, not visible yet; retrying in {delay:.1f}s")
                elif status >= 500 or not status:
                    raise OutcomeUnknownError(what, error) from error
                else:
                    raise
            except (EndpointConnectionError, ConnectTimeoutError):
                raise  # no connection was made: the call was never sent
            except HTTPClientError as error:
                # A read timeout or a connection dropped after sending.
                raise OutcomeUnknownError(what, error) from error
            time.sleep(delay)


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 0.25 s, 0.5 s, 1 s... capped at 8 s."""
    base: float = min(8.0, 0.25 * 2 ** (attempt - 1))
    return base * random.uniform(0.5, 1.0)
