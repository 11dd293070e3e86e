"""The state backend protocol, lock records and state errors."""

from __future__ import annotations

import getpass
import os
import re
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
    "check_stack_name",
    "current_user",
    "is_stack_name",
]

MAX_VERSIONS = 10
"""How many previous versions of each state document a backend keeps."""


class StateError(InfraDslError):
    """State could not be read or written (corrupt, stale writer, unreachable)."""


class StateLockedError(StateError):
    """Another run holds the stack's lock (exit code 5).

    Attributes:
        stack: the locked stack.
        holder: who holds it (`LockInfo.unreadable` when the lock cannot be read).
        stale: the holder is known to be gone; the message gives the command that clears
            the lock.
    """

    def __init__(self, stack: str, holder: LockInfo, *, stale: bool = False) -> None:
        self.stack = stack
        self.holder = holder
        self.stale = stale
        clear = f"`infradsl state unlock {holder.id} --stack {stack}`"
        if holder.id == UNREADABLE:
            text = (
                f"stack {stack!r} has a lock that cannot be read (empty or damaged: a run "
                "died while taking it)"
            )
            text += f", so the lock is stale: clear it with {clear}" if stale else ""
        else:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.created))
            text = (
                f"stack {stack!r} is locked by {holder.user}@{holder.host} (pid {holder.pid}, "
                f"{holder.operation}, since {since}, lock id {holder.id})"
            )
            if stale:
                text += (
                    "; that process is no longer running on this host, so the lock is stale: "
                    f"clear it with {clear}"
                )
        if not stale:
            text += "; wait for it to finish"
        super().__init__(text)


UNREADABLE = "unreadable"
"""The lock id of a lock whose record cannot be read (`LockInfo.unreadable`)."""

_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_stack_name(name: str) -> bool:
    """Whether ``name`` is a valid stack name (see `check_stack_name`)."""
    return isinstance(name, str) and bool(_STACK_NAME.fullmatch(name)) and ".." not in name


def check_stack_name(stack: str) -> str:
    """Refuse a stack name that is not a plain name: backends use it in file and key names.

    Args:
        stack: the name, as given (on the command line, in a state document).

    Returns:
        ``stack``, unchanged.

    Raises:
        StateError: the name has a ``/``, ``..``, starts with something other than a
            letter or digit, or is longer than 128 characters.
    """
    if not is_stack_name(stack):
        raise StateError(
            f"invalid stack name {stack!r}: a stack name is letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, without '..' (like the id of a Stack)"
        )
    return stack


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

    @classmethod
    def unreadable(cls) -> LockInfo:
        """The record of a lock that cannot be read (empty or damaged: a run died while
        taking it). Its id is ``unreadable``, which `infradsl state unlock` accepts."""
        return cls(id=UNREADABLE, user="?", host="?", pid=0, operation="?", created=0.0)

    def takeover_note(self) -> str:
        """What to tell the user when a run took over this (dead) holder's lock."""
        if self.id == UNREADABLE:
            return (
                "took over a lock that could not be read (empty or damaged: a run died while "
                "taking it)"
            )
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))
        return (
            f"took over the lock of a run that is no longer running ({self.operation} by "
            f"{self.user}@{self.host}, pid {self.pid}, since {since})"
        )

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

    def lock(self, stack: str, info: LockInfo) -> LockInfo | None:
        """Take the stack's lock for ``info``.

        A lock whose holder is known to be dead is taken over: the local backend's lock is
        an OS lock the kernel releases when its process ends; on S3, a holder on this host
        whose process no longer exists. The caller should tell the user
        (`LockInfo.takeover_note`): the dead run may have left pending intents.

        Returns:
            ``None`` when the lock was free, or the record of the dead holder it took over
            from (`LockInfo.unreadable` for a lock that could not be read).

        Raises:
            StateLockedError: a live holder has it, or a holder this backend cannot judge
                (another host on S3, an unreadable S3 lock: then ``stale`` says how to
                clear it).
        """
        ...

    def unlock(self, stack: str, lock_id: str) -> None:
        """Release the lock if ``lock_id`` holds it (from any process: `infradsl state
        unlock` clears the lock of a run that died). Releasing this run's own lock after
        it wrote the stack's state also keeps that final state as a version."""
        ...

    def lock_holder(self, stack: str) -> LockInfo | None:
        """The record of the stack's lock, if there is one (also one a dead run left)."""
        ...

    def stacks(self) -> list[str]:
        """Names of the stacks with a state."""
        ...

    def locked_stacks(self) -> list[str]:
        """Names of the stacks with a lock record (with or without a state), sorted."""
        ...

    def append_history(self, stack: str, record: Mapping[str, Any]) -> None:
        """Record a deployment (time, user, git commit, summary, result)."""
        ...

    def history(self, stack: str) -> list[dict[str, Any]]:
        """Deployments of the stack, oldest first."""
        ...

    def history_stacks(self) -> list[str]:
        """Names of the stacks with a deployment history, sorted: also those without a
        state (destroyed, or whose first deploy was rolled back)."""
        ...

    def versions(self, stack: str) -> list[tuple[int, float]]:
        """The kept versions of the stack's state as ``(serial, written)``.

        Each run keeps the document it starts from (its first overwrite or removal keeps
        the document it replaces) and the document it ends with (when it releases its
        lock), so the newest good state survives damage to the current document. The
        newest `MAX_VERSIONS` are kept. ``written`` is when that document was written
        (epoch seconds). Newest first.
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
