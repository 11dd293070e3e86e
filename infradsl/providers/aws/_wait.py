"""Bounded waiting on botocore waiters, ending in the handler error tree.

A waiter that runs out of attempts raises `WaitTimeoutError`, one that meets a state it
will not leave (or an error) raises `WaitFailedError`; both carry the state last observed.
The message stays botocore's (``Waiter VpcAvailable failed: Max attempts exceeded``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import WaiterError

from infradsl.providers.handler import WaitError, WaitFailedError, WaitTimeoutError

__all__ = ["last_state", "run_waiter"]

# Waiter name endings that name the state waited for (``vpc_available``, ``volume_in_use``).
_WANTED = ("not_exists", "exists", "in_use", "available", "running", "terminated", "deleted")


def run_waiter(client: Any, waiter: str, *, delay: int, max_attempts: int, **params: Any) -> None:
    """Run botocore's ``waiter`` on ``client`` with a bounded delay and number of attempts.

    Raises:
        WaitTimeoutError: the attempts ran out.
        WaitFailedError: the resource reached a failure state, or the API failed.
    """
    try:
        client.get_waiter(waiter).wait(
            WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}, **params
        )
    except WaiterError as error:
        raise wait_error(error, waiter, params) from error


def wait_error(error: WaiterError, waiter: str, params: Mapping[str, Any]) -> WaitError:
    """The `WaitError` for a botocore ``WaiterError`` (same message)."""
    ids = next((v for v in params.values() if isinstance(v, Sequence) and v), None)
    resource = ", ".join(map(str, ids)) if isinstance(ids, list | tuple) else str(ids or "")
    wanted = next((w for w in _WANTED if waiter.endswith(w)), waiter).replace("_", "-")
    reason = str(error.kwargs.get("reason", ""))
    cls = WaitTimeoutError if "Max attempts exceeded" in reason else WaitFailedError
    return cls(
        str(error),
        resource=resource,
        wanted=wanted,
        last_state=last_state(error.last_response),
    )


def last_state(response: Any) -> str:
    """The states in a describe response (``"pending"``; several joined by ``","``), or the
    error code of an error response, or ``""``."""
    if not isinstance(response, Mapping):
        return ""
    error = response.get("Error")
    if isinstance(error, Mapping) and error.get("Code"):
        return str(error["Code"])
    states: list[str] = []
    _collect(response, states, depth=0)
    return ",".join(dict.fromkeys(states))


def _collect(value: Any, states: list[str], depth: int) -> None:
    """Gather the ``State`` (or ``State.Name``) of the items of a describe response."""
    if depth > 5:
        return
    if isinstance(value, Mapping):
        state = value.get("State")
        if isinstance(state, Mapping):
            state = state.get("Name")
        if isinstance(state, str):
            states.append(state)
            return  # an item's own state; not those of its parts (a volume's attachments)
        for item in value.values():
            if isinstance(item, list | Mapping):
                _collect(item, states, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _collect(item, states, depth + 1)
