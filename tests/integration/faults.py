"""Faults injected at the HTTP layer through botocore's ``before-send`` event.

Unlike a ``before-call`` hook, these can let the request reach the cloud first and then
lose the answer, which is what makes retries dangerous:

- ``before-500``: the server never sees the call; the client gets HTTP 500.
- ``after-500``: the server acts; the client gets HTTP 500 instead of its answer.
- ``after-timeout``: the server acts; the client's read times out.
- ``after-drop``: the server acts; the connection drops before the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.httpsession import URLLib3Session
from cloudsnap import is_mutating

from infradsl.providers.aws.clients import add_event_hook

MODES = ("before-500", "after-500", "after-timeout", "after-drop")


class _Raw:
    """The body of a fake response (empty: botocore reports a generic 500 error)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


class Fault:
    """Counts mutating calls (not the local cloud's own SSM marker) and fails the n-th."""

    def __init__(self, n: int, mode: str) -> None:
        assert mode in MODES, mode
        self.n = n
        self.mode = mode
        self.seen = 0
        self.fired: str | None = None
        self._lock = threading.Lock()
        self._http = URLLib3Session()

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        _, service, operation = event_name.split(".", 2)
        if service == "ssm" or not is_mutating(operation):
            return None
        with self._lock:
            self.seen += 1
            if self.seen != self.n:
                return None
            self.fired = f"{service}.{operation}"
        if self.mode.startswith("after"):
            self._http.send(request)  # the cloud acts; its answer is lost below
        if self.mode == "after-timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        if self.mode == "after-drop":
            raise ConnectionClosedError(endpoint_url=request.url)
        return AWSResponse(request.url, 500, {}, _Raw())


@contextmanager
def fault_at(n: int, mode: str) -> Iterator[Fault]:
    """Fail the ``n``-th mutating call in ``mode`` while the block runs."""
    fault = Fault(n, mode)
    remove = add_event_hook("before-send", fault)
    try:
        yield fault
    finally:
        remove()
