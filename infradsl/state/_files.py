"""Files of the local backend: private, written atomically, and errors a user can act on."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from infradsl.state.backend import StateError

__all__ = ["append_private", "disk_errors", "make_private_dirs", "write_atomic"]

# State describes the whole infrastructure of a stack: only its owner reads it.
FILE_MODE = 0o600
DIR_MODE = 0o700


@contextmanager
def disk_errors(what: str, outcome: str, folder: Path) -> Iterator[None]:
    """Turn an `OSError` inside the block into a `StateError` saying what failed and how to
    fix it.

    Args:
        what: what was being done, with the path (``write the state of 'web' to PATH``).
        outcome: what that means for the user (``nothing was written``).
        folder: the state folder, named in the advice for permission problems.
    """
    try:
        yield
    except OSError as exc:
        raise _disk_error(exc, what, outcome, folder) from exc


def _disk_error(exc: OSError, what: str, outcome: str, folder: Path) -> StateError:
    code = exc.errno or 0
    name = errno.errorcode.get(code, str(code))
    elsewhere = "or keep state elsewhere with --state DIR"
    if code == errno.ENOSPC:
        reason, fix = "the disk is full", "Free some space on it and run again"
    elif code == errno.EDQUOT:
        reason, fix = "the disk quota is exceeded", "Free some space on it and run again"
    elif code == errno.EROFS:
        reason, fix = "the file system is read-only", f"Make it writable, {elsewhere}"
    elif code in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
        fix = f"Check who owns {folder} and its permissions, {elsewhere}"
    else:
        reason = (exc.strerror or str(exc)).lower()
        fix = f"Check the state folder {folder}"
    return StateError(f"could not {what}: {reason} ({name}); {outcome}. {fix}")


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each readable by its owner only (folders
    that exist are left as they are)."""
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise
        else:
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by a private file holding ``data``: written to a temporary file in
    the same folder, ``fsync``ed, then renamed over it, so a reader or a crash sees the old
    document or the new one. On failure the temporary file is removed and the `OSError`
    raised; ``path`` is unchanged."""
    tmp = temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created private), in one write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """A unique hidden name next to ``path`` (unique per process and thread)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (`os.write` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def remove_quietly(path: Path) -> None:
    """Remove ``path`` if it exists, ignoring errors (cleanup after a failure)."""
    with suppress(OSError):
        os.unlink(path)
