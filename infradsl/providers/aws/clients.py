"""boto3 clients: created lazily, once per service and region, with retries configured."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Clients", "add_event_hook"]

# Hooks added for the whole process (tests inject faults and record calls through these;
# see `add_event_hook`). Read when a client is created.
_process_hooks: list[tuple[str, Callable[..., Any]]] = []


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
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session: Any = None

    def client(self, service: str) -> Any:
        """Return the shared client for ``service``."""
        with self._lock:
            existing = self._clients.get(service)
            if existing is not None:
                return existing
            import boto3
            from botocore.config import Config

            if self._session is None:
                self._session = boto3.session.Session()
            config = Config(
                region_name=self.region,
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=64,
                connect_timeout=10,
                read_timeout=60,
            )
            kwargs: dict[str, Any] = {"config": config}
            if self.endpoint_url is not None:
                kwargs["endpoint_url"] = self.endpoint_url
                kwargs.setdefault("aws_access_key_id", "testing")
                kwargs.setdefault("aws_secret_access_key", "testing")
            created = self._session.client(service, **kwargs)
            for event, handler in [*self.hooks, *_process_hooks]:
                created.meta.events.register(event, handler)
            self._clients[service] = created
            return created
