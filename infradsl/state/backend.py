"""The state backend protocol, lock records and state errors."""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from infradsl.errors import InfraDslError
from infradsl.state.model import StackState

__all__ = [
    "MAX_VERSIONS",
    "LockInfo",
    "StateBackend",
    "StateError",
    "StateLockedError",
    "current_user",
]

MAX_VERSIONS = 10
"""How many previous versions of each state document a backend keeps."""


class StateError(InfraDslError):
    """State could not be read or written (corrupt, stale writer, unreachable)."""


class StateLockedError(StateError):
    """Another run holds the stack's lock (exit code 5)."""

    def __init__(self, stack: str, holder: LockInfo, *, stale: bool = False) -> None:
        self.stack = stack
        self.holder = holder
        self.stale = stale
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.created))
        text = (
            f"stack {stack!r} is locked by {holder.user}@{holder.host} (pid {holder.pid}, "
            f"{holder.operation}, since {since}, lock id {holder.id})"
        )
        if stale:
            text += (
                "; that process is no longer running on this host, so the lock is stale: "
                f"clear it with `infradsl state unlock {holder.id}`"
            )
        else:
            text += "; wait for it to finish"
        super().__init__(text)


def current_user() -> str:
    """The user running infradsl, as recorded in locks and the deployment history."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@attrs.frozen
class LockInfo:
    """Who holds a stack's lock.

    Attributes:
        id: the lock id (for ``infradsl state unlock``).
        user: the user name of the holder.
        host: the holder's host name.
        pid: the holder's process id.
        operation: ``deploy``, ``destroy``...
        created: when the lock was taken (epoch seconds).
    """

    id: str
    user: str
    host: str
    pid: int
    operation: str
    created: float

    @classmethod
    def new(cls, operation: str) -> LockInfo:
        """A lock record for this process."""
        return cls(
            id=uuid.uuid4().hex[:12],
            user=current_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            operation=operation,
            created=time.time(),
        )

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LockInfo:
        """Parse what `to_json` wrote."""
        return cls(**{f.name: data[f.name] for f in attrs.fields(cls)})

    def holder_gone(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


@runtime_checkable
class StateBackend(Protocol):
    """Where stack states live: read, write (compare-and-swap on serial), lock, unlock."""

    def read(self, stack: str) -> StackState | None:
        """The stack's state, or ``None`` when it was never deployed."""
        ...

    def write(self, state: StackState) -> None:
        """Store ``state`` atomically.

        Raises:
            StateError: the stored serial is not lower than ``state.serial`` or the lineage
                differs (a stale writer).
        """
        ...

    def restore(self, stack: str, state: StackState | None) -> None:
        """Put back the state read at the start of this run (after a complete rollback);
        ``None`` removes the state of a stack that had none."""
        ...

    def lock(self, stack: str, info: LockInfo) -> None:
        """Take the stack's lock.

        Raises:
            StateLockedError: another holder has it.
        """
        ...

    def unlock(self, stack: str, lock_id: str) -> None:
        """Release the lock if ``lock_id`` holds it."""
        ...

    def lock_holder(self, stack: str) -> LockInfo | None:
        """The current holder of the stack's lock, if any."""
        ...

    def stacks(self) -> list[str]:
        """Names of the stacks with a state."""
        ...

    def append_history(self, stack: str, record: Mapping[str, Any]) -> None:
        """Record a deployment (time, user, git commit, summary, result)."""
        ...

    def history(self, stack: str) -> list[dict[str, Any]]:
        """Deployments of the stack, oldest first."""
        ...

    def versions(self, stack: str) -> list[tuple[int, float]]:
        """The kept previous versions of the stack's state as ``(serial, written)``.

        Every overwrite (and removal) of a state document first keeps the document it
        replaces; the newest `MAX_VERSIONS` are kept. ``written`` is when that document was
        written (epoch seconds). Newest first.
        """
        ...

    def read_version(self, stack: str, serial: int) -> StackState:
        """A kept previous version of the stack's state.

        Raises:
            StateError: there is no such version, or it is corrupt.
        """
        ...

    def restore_version(self, stack: str, serial: int) -> StackState:
        """Make a kept version the current state again, as a normal newer write.

        The restored document keeps its lineage and gets a serial above every serial the
        stack's state and its versions have, so runs that read the old state cannot
        overwrite it. The state it replaces is kept as a version too; a corrupt current
        document (the damage this repairs) is set aside next to the versions, never lost.

        Returns:
            The state as written.

        Raises:
            StateError: no such version, the current state is corrupt, or it has another
                lineage (the stack was destroyed and deployed again since).
        """
        ...
