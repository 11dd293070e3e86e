"""State: what infradsl deployed, per stack, and where it is kept (local files or S3)."""

from infradsl.state.backend import (
    MAX_VERSIONS,
    LockInfo,
    StateBackend,
    StateError,
    StateLockedError,
)
from infradsl.state.factory import open_backend
from infradsl.state.local import LocalBackend
from infradsl.state.model import ResourceState, StackState

__all__ = [
    "MAX_VERSIONS",
    "LocalBackend",
    "LockInfo",
    "ResourceState",
    "StackState",
    "StateBackend",
    "StateError",
    "StateLockedError",
    "open_backend",
]
