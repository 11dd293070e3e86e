"""The contract between the engine and the code that talks to a cloud API.

A handler gets *resolved* properties: every reference is replaced by its value (a physical
id, an ARN, an address), every ``join`` is a plain string, and a resource passed as a value
is its physical id. Handlers never see the construct tree. Only the engine's executor calls
the mutating methods (`create`, `update`, `delete`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs

from infradsl.errors import InfraDslError

__all__ = [
    "TOKEN_TAG",
    "ClientProvider",
    "CloudUnreachableError",
    "CreateResult",
    "HandlerContext",
    "HandlerError",
    "InvalidPropertyError",
    "LookupHandler",
    "OutcomeUnknownError",
    "ReadResult",
    "ResourceConflictError",
    "ResourceHandler",
    "ResourceNotFoundError",
    "UpdateResult",
    "WaitError",
    "WaitFailedError",
    "WaitTimeoutError",
    "notify",
    "reporting_to",
    "system_tags",
]


class ClientProvider(Protocol):
    """Gives a boto3 client per service, created lazily and shared between threads."""

    def client(self, service: str) -> Any:
        """Return the client for ``service`` (``"ec2"``, ``"iam"``...) in the stack's region."""
        ...


TOKEN_TAG = "infradsl:token"


class HandlerError(InfraDslError):
    """A handler could not do what the engine asked of it.

    The root of every error a handler raises on purpose (see the tree in `infradsl.errors`).
    The engine reports the message's first line against the resource, so it names the
    resource and says what was expected and what was found. Where an error refines a
    builtin (a timeout, a missing resource) it subclasses that too.
    """


class OutcomeUnknownError(HandlerError):
    """A mutating call failed without saying whether the cloud acted on it.

    An HTTP 5xx, a timeout or a dropped connection can come after the server made the
    change: the call is never retried blindly (that made duplicates). The engine first looks
    the resource up by its ``infradsl:token`` tag, and only retries when it is absent.

    Attributes:
        operation: the API operation (``"ec2.CreateVpc"``).
        cause: the error the client raised.
    """

    def __init__(self, operation: str, cause: BaseException) -> None:
        self.operation = operation
        self.cause = cause
        first = (str(cause) or type(cause).__name__).splitlines()[0]
        super().__init__(f"{operation} failed and may or may not have taken effect: {first}")


class CloudUnreachableError(HandlerError):
    """The cloud could not be reached or refused the credentials, before any change."""


class WaitError(HandlerError):
    """A bounded wait ended without the resource reaching the state waited for.

    Attributes:
        resource: what was waited for (an id, or several ids joined by ``", "``).
        wanted: the state waited for (``"running"``, ``"available"``...), or ``""``.
        last_state: the state last observed (``"pending"``), or ``""`` when none was read
            (the resource was gone, or the API does not report one).
    """

    def __init__(
        self, message: str, *, resource: str = "", wanted: str = "", last_state: str = ""
    ) -> None:
        self.resource = resource
        self.wanted = wanted
        self.last_state = last_state
        super().__init__(message)


class WaitTimeoutError(WaitError, TimeoutError):
    """The wait ran out of attempts; ``last_state`` is where the resource was stuck."""


class WaitFailedError(WaitError, RuntimeError):
    """The resource reached a state it will not leave for the one waited for (an instance
    stopped instead of running, a NAT gateway failed), or vanished while waited for."""


class ResourceNotFoundError(HandlerError, LookupError):
    """A resource an operation needs is not there (deleted by hand, or never made)."""


class ResourceConflictError(HandlerError):
    """A resource with the name a create needs exists, and this creation did not make it.

    Attributes:
        code: the error code the cloud gives for the situation (``BucketAlreadyOwnedByYou``).
        operation: the API operation that wanted the name (``CreateBucket``).
    """

    def __init__(self, code: str, operation: str, message: str) -> None:
        self.code = code
        self.operation = operation
        # Worded as botocore words an API error: outside us-east-1 it is what the cloud
        # answers; in us-east-1 it answers with a success, and the tags tell.
        super().__init__(
            f"An error occurred ({code}) when calling the {operation} operation: {message}"
        )


class InvalidPropertyError(HandlerError, ValueError):
    """A resolved property has a value the API cannot take (synth-time validation
    normally refuses it first)."""


# Where the clients report what they retry (eventual consistency, throttling): set by the
# engine around each operation, per worker thread.
_reporter = threading.local()


@contextmanager
def reporting_to(callback: Callable[[str], None]) -> Iterator[None]:
    """Send `notify` messages from this thread to ``callback`` while the block runs."""
    previous = getattr(_reporter, "callback", None)
    _reporter.callback = callback
    try:
        yield
    finally:
        _reporter.callback = previous


def notify(message: str) -> None:
    """Report a retry or a wait to whoever listens on this thread (the progress view)."""
    callback: Callable[[str], None] | None = getattr(_reporter, "callback", None)
    if callback is not None:
        callback(message)


def system_tags(stack: str, path: str) -> dict[str, str]:
    """The tags infradsl puts on every taggable resource at creation."""
    return {"Name": f"{stack}/{path}", "infradsl:stack": stack, "infradsl:path": path}


@attrs.frozen
class HandlerContext:
    """What a handler knows about the resource it works on, besides its properties.

    Attributes:
        stack: the stack name.
        path: the logical id (construct path inside the stack).
        region: the stack's region.
        clients: the boto3 client provider.
        rollback: True while undoing a failed deploy (secrets are then force-deleted so
            their names are free again at once).
        attempt: a number distinguishing replacements of the same path (0 for the first
            creation); part of generated names and idempotency tokens.
        lineage: the lineage of the stack's state. Part of generated names and tokens, so
            two states (another ``--state`` directory, a stack deployed again after a
            destroy) never produce the same names and never adopt each other's resources,
            while a retried call within one state produces the same ones.
        live_tags: for an update, the tags the resource has now, when the plan knows
            them (read from the cloud, or recorded before a rename): `tag_changes` then
            converges from these, so tags changed by hand and the ``Name`` and
            ``infradsl:path`` of a renamed resource are put right. ``None``: from ``old``.
        fresh: set on an `ResourceHandler.update` right after this run created the resource
            with exactly ``old`` (the rules a create left for later): the update may apply
            the difference without reading what is live.
        settle_later: set on a `ResourceHandler.create` when nothing in the run waits for
            the resource: a handler with a ``settle(ctx, physical_ids)`` method (returning
            the final attributes by id once every one is ready) may return as soon as the
            resource exists; the engine then settles all of them in one batched call.
        retiring: set on a `ResourceHandler.delete` of the old half of a replacement, in
            the cleanup after a successful deploy (an image handler keeps the last few
            images for rolling back instead of deleting at once).
    """

    stack: str
    path: str
    region: str
    clients: ClientProvider
    rollback: bool = False
    attempt: int = 0
    lineage: str = ""
    live_tags: Mapping[str, str] | None = None
    fresh: bool = False
    settle_later: bool = False
    retiring: bool = False

    @property
    def tags(self) -> dict[str, str]:
        """``Name``, ``infradsl:stack``, ``infradsl:path`` and ``infradsl:token``.

        ``infradsl:token`` identifies this creation (stack, path, attempt and lineage): after
        a crash, `ResourceHandler.find` looks a resource up by it, even where the API ignores
        idempotency tokens (the local emulator does).
        """
        return {**system_tags(self.stack, self.path), TOKEN_TAG: self.creation_token}

    @property
    def creation_token(self) -> str:
        """The value of the ``infradsl:token`` tag of the resource this context creates.

        It starts with the first 8 characters of the state's lineage, so resources of
        another state of a same-named stack are told apart (`lineage_of_token`).
        """
        return f"{self.lineage[:8]}{self.token('create')[:24]}"

    def merged_tags(self, props: Mapping[str, Any]) -> dict[str, str]:
        """The user's tags (``props["tags"]``) with the system tags on top."""
        return {**dict(props.get("tags") or {}), **self.tags}

    def tag_changes(
        self, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> tuple[dict[str, str], list[str]]:
        """Tags to set and tag keys to remove to go from ``old`` to ``new`` properties.

        The starting point is `live_tags` when known, else ``old``'s tags with the system
        tags. The ``infradsl:token`` tag is never rewritten (it stays the creation's) and
        AWS's own ``aws:`` tags are never removed; the system tags are never removed
        since ``new`` always has them.
        """
        before = dict(self.live_tags) if self.live_tags is not None else self.merged_tags(old)
        after = self.merged_tags(new)
        before.pop(TOKEN_TAG, None)
        after.pop(TOKEN_TAG, None)
        changed = {key: value for key, value in after.items() if before.get(key) != value}
        removed = sorted(key for key in before if key not in after and not key.startswith("aws:"))
        return changed, removed

    def token(self, operation: str) -> str:
        """A deterministic idempotency token for ``operation`` on this resource (64 hex)."""
        text = f"{self.stack}\0{self.path}\0{operation}\0{self.attempt}\0{self.lineage}"
        return hashlib.sha256(text.encode()).hexdigest()

    def physical_name(self, max_length: int = 64, *, lower: bool = False, sep: str = "-") -> str:
        """A generated, unique-per-replacement name: ``<stack>-<path>-<8 hex>``.

        The suffix comes from `token`, so a retried creation gets the same name while a
        replacement (another ``attempt``) gets a new one and never collides with the old.
        """
        suffix = self.token("name")[:8]
        base = f"{self.stack}{sep}{self.path.replace('/', sep)}"
        if lower:
            base = "".join(c if c.isalnum() or c in "-." else "-" for c in base.lower())
        keep = max_length - len(suffix) - len(sep)
        return f"{base[:keep]}{sep}{suffix}"


@attrs.frozen
class CreateResult:
    """What `ResourceHandler.create` returns.

    Attributes:
        physical_id: the cloud's id (``vpc-...``, a role name, a secret ARN).
        attributes: every attribute the type declares (``id``, ``arn``, ``public_ip``...).
    """

    physical_id: str
    attributes: Mapping[str, Any]


@attrs.frozen
class UpdateResult:
    """What `ResourceHandler.update` returns: the attributes after the update."""

    attributes: Mapping[str, Any]


@attrs.frozen
class ReadResult:
    """One live resource as read from the cloud.

    Attributes:
        properties: the observed values of the properties the handler can read back, in
            the resolved form the handler was given (used to detect drift).
        attributes: the current attributes.
        tags: the resource's tags (system tags included), or ``None`` when the read cannot
            return them (no batch API gives an IAM managed policy's tags).
    """

    properties: Mapping[str, Any]
    attributes: Mapping[str, Any]
    tags: Mapping[str, str] | None = None


@runtime_checkable
class ResourceHandler(Protocol):
    """Create, read, update and delete one resource type through a cloud API.

    Which properties update in place and which force a replacement is declared on the
    resource type (``prop(replace=True)``); `update` is only called for in-place changes.
    """

    type_name: ClassVar[str]

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        """Create the resource, tagged with ``ctx.tags`` at creation; wait until usable."""
        ...

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        """Read many resources at once (one describe call per page); missing ids are absent."""
        ...

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        """Apply in-place changes from ``old`` to ``new`` resolved properties."""
        ...

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        """Delete the resource (detaching what AWS requires first); wait until gone.

        Deleting something already gone is not an error.
        """
        ...

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """The resource that ``create(ctx, props)`` made, if it exists, else ``None``.

        Used to recover after a crash between a create call and its journal record: looked
        up by the ``infradsl:token`` tag (or by the generated name where the type has one),
        never by the API's idempotency token alone.
        """
        ...

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """Every resource of this type tagged ``infradsl:stack = ctx.stack``: physical id ->
        its ``infradsl:path`` tag. Used by ``infradsl state reconcile``."""
        ...


@runtime_checkable
class LookupHandler(Protocol):
    """A handler that also finds existing resources infradsl does not manage.

    The handlers of the types with a ``lookup`` classmethod (``ec2.Vpc.lookup``...)
    implement it; the engine resolves a document's ``lookups`` through it when planning.
    """

    type_name: ClassVar[str]

    def lookup(self, ctx: HandlerContext, query: Mapping[str, Any]) -> Mapping[str, ReadResult]:
        """Every resource matching all criteria of ``query``, by physical id.

        ``query`` is resolved like properties (a VPC is its id). Each result carries what
        `ResourceHandler.read` returns, plus whatever else a reference to a looked-up
        resource may read (a VPC's DNS settings). Nothing found is an empty mapping; the
        engine, not the handler, refuses zero or several matches.
        """
        ...
