"""OS locks for the local backend: the stack lock and the write lock.

The stack lock is ``flock`` on ``<stack>.lock``, held on a file descriptor kept open for
the whole run. The kernel releases it when the process ends, however it ends (``kill -9``
included), so the lock of a dead run is free. The file also holds the holder's
`LockInfo`, for messages; it is only ever put in place complete and already locked
(linked or renamed from a written temporary file), so a live lock is always readable.

A file left by a dead run stays until the next run takes it over: a lock file whose
``flock`` is free is a dead run's.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from infradsl.state._files import FILE_MODE, remove_quietly, temporary_name, write_all
from infradsl.state.backend import LockInfo, StateError, StateLockedError

__all__ = ["acquire", "read_holder", "release", "write_lock"]

# The stack locks this process holds: (real path of the lock file, lock id) -> the locked
# descriptor. A lock belongs to the process, not to a backend instance: it is held until
# `release` with its id (by any instance) or until the process ends. Guarded by `_guard`.
_held: dict[tuple[str, str], int] = {}
_guard = threading.Lock()

# A lock whose record names a dead holder but whose flock is held is being taken over by
# another run right now: look again this many times before reporting it.
_SETTLE_ATTEMPTS = 20
_SETTLE_DELAY = 0.01
# Rounds of "the lock file changed while we looked" before giving up.
_MAX_ROUNDS = 100


@attrs.frozen
class _Busy:
    """A live process holds the lock; ``holder`` is the record in its file."""

    holder: LockInfo


def acquire(path: Path, stack: str, info: LockInfo) -> LockInfo | None:
    """Take the stack lock at ``path`` for ``info``.

    Returns:
        ``None`` when it was free, or the record of the dead run it was taken over from.

    Raises:
        StateLockedError: a live process holds it.
        OSError: the file system refused (the caller explains).
    """
    body = json.dumps(info.to_json()).encode()
    busy = 0
    for _ in range(_MAX_ROUNDS):
        tmp = temporary_name(path)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        placed = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows this file yet
            write_all(fd, body)
            os.fsync(fd)
            try:
                os.link(tmp, path)  # atomic: fails when a lock file exists
            except FileExistsError:
                outcome = _take_over(path, tmp)
                if outcome is None:
                    continue  # the lock file changed while we looked
                if isinstance(outcome, _Busy):
                    busy += 1
                    if busy >= _SETTLE_ATTEMPTS or not _may_be_settling(outcome.holder):
                        raise StateLockedError(stack, outcome.holder) from None
                    time.sleep(_SETTLE_DELAY)
                    continue
                taken: LockInfo | None = outcome
            else:
                taken = None
            placed = True
            _register(path, info.id, fd)
            return taken
        finally:
            remove_quietly(tmp)
            if not placed:
                os.close(fd)
    raise StateError(f"could not lock {stack!r} at {path}: the lock file keeps changing")


def _take_over(path: Path, tmp: Path) -> LockInfo | _Busy | None:
    """Try to take over the existing lock file at ``path`` with the locked ``tmp``.

    Returns:
        the dead holder's record when taken over; `_Busy` when a live process holds it;
        ``None`` when the file changed meanwhile (try again).
    """
    try:
        old = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # released in between
    try:
        try:
            fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _Busy(_parse(_read(old)) or LockInfo.unreadable())
        if not _same_file(old, path):
            return None  # released or taken over in between: its flock says nothing now
        # This run holds the old file's flock, so its holder is dead, and no other run can
        # be taking it over: put the new, locked record in its place.
        previous = _parse(_read(old)) or LockInfo.unreadable()
        os.replace(tmp, path)
        return previous
    finally:
        os.close(old)


def _may_be_settling(holder: LockInfo) -> bool:
    # A live flock on a record of a dead (or unreadable) holder: another run is between
    # taking the old file's flock and renaming its own record over it.
    return holder == LockInfo.unreadable() or holder.holder_gone()


def release(path: Path, lock_id: str) -> bool:
    """Release the stack lock ``lock_id`` at ``path``: this process's own, or the record
    of another process's (a dead run's, or a live one's: then that run no longer excludes
    others). Returns whether a lock was released."""
    with _guard:
        fd = _held.pop((os.path.realpath(path), lock_id), None)
    if fd is not None:
        try:
            if _same_file(fd, path):  # not removed and replaced since by `state unlock`
                os.unlink(path)
        finally:
            os.close(fd)
        return True
    try:
        other = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        holder = _parse(_read(other)) or LockInfo.unreadable()
        if holder.id != lock_id or not _same_file(other, path):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(other)


def read_holder(path: Path) -> LockInfo | None:
    """The record in the lock file at ``path`` (`LockInfo.unreadable` when it cannot be
    parsed), or ``None`` when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _parse(data) or LockInfo.unreadable()


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive ``flock`` on ``path`` (created if needed) for the block: state
    writes check and rename under it, so a compare-and-swap is atomic."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _register(path: Path, lock_id: str, fd: int) -> None:
    with _guard:
        _held[(os.path.realpath(path), lock_id)] = fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _read(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 65536, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _parse(data: bytes) -> LockInfo | None:
    try:
        return LockInfo.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
