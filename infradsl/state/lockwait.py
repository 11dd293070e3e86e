"""Waiting for a stack's lock (``--lock-timeout``) instead of failing at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from infradsl.state.backend import LockInfo, StateBackend, StateLockedError

__all__ = ["LockWaitTimeoutError", "format_duration", "wait_for_lock"]


class LockWaitTimeoutError(StateLockedError):
    """The lock was still held when ``--lock-timeout`` ran out (exit code 5)."""

    def __init__(self, error: StateLockedError, waited: float) -> None:
        super().__init__(error.stack, error.holder, stale=error.stale)
        self.args = (
            f"{self.args[0]}; gave up after waiting {format_duration(waited)} for it "
            "(--lock-timeout)",
        )


def format_duration(seconds: float) -> str:
    """``45s``, ``5m``, ``1m30s``, ``2h``.

    Example:
        >>> format_duration(90), format_duration(300), format_duration(0.5)
        ('1m30s', '5m', '0.5s')
    """
    if seconds < 1:
        return f"{seconds:g}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


def wait_for_lock(
    backend: StateBackend,
    stack: str,
    info: LockInfo,
    *,
    timeout: float,
    on_wait: Callable[[StateLockedError], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LockInfo | None:
    """Take the stack's lock, waiting up to ``timeout`` seconds while a live run holds it.

    A stale lock (its holder is gone, and the backend cannot take it over) is not waited
    for: it is never released by itself. Polls every quarter second at first, then less
    often (up to every 2 s), so a remote backend is not flooded.

    Args:
        backend: the state backend.
        stack: the stack.
        info: this run's lock record.
        timeout: seconds to wait; 0 fails at once, as without ``--lock-timeout``.
        on_wait: called once, when the first attempt finds the lock held.

    Returns:
        What `StateBackend.lock` returns: the dead holder taken over, or ``None``.

    Raises:
        StateLockedError: the lock is stale, or ``timeout`` is 0 and the lock is held.
        LockWaitTimeoutError: still held after ``timeout`` seconds.
    """
    start = clock()
    delay = 0.25
    waited = False
    while True:
        try:
            return backend.lock(stack, info)
        except StateLockedError as exc:
            if exc.stale or timeout <= 0:
                raise
            elapsed = clock() - start
            if elapsed >= timeout:
                raise LockWaitTimeoutError(exc, elapsed) from None
            if not waited and on_wait is not None:
                on_wait(exc)
            waited = True
            sleep(min(delay, timeout - elapsed))
            delay = min(delay * 2, 2.0)
