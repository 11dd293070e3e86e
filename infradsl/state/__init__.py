"""State: what infradsl deployed, per stack, and where it is kept (local files or S3)."""

from infradsl.state.backend import LockInfo, StateBackend, StateError, StateLockedError
from infradsl.state.local import LocalBackend
from infradsl.state.model import ResourceState, StackState

__all__ = [
    "LocalBackend",
    "LockInfo",
    "ResourceState",
    "StackState",
    "StateBackend",
    "StateError",
    "StateLockedError",
]
