"""The local file backend: one JSON document per target and stack, written atomically."""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infradsl.state import _flock
from infradsl.state._files import (
    append_private,
    disk_errors,
    make_private_dirs,
    write_atomic,
)
from infradsl.state._versions import check_successor, corrupt, missing_version, restored
from infradsl.state.backend import (
    MAX_VERSIONS,
    LockInfo,
    StateError,
    check_stack_name,
    is_stack_name,
)
from infradsl.state.model import StackState

__all__ = ["LocalBackend"]

# What `os.link` answers on a file system that has no hard links (then versions are copies).
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}
)

# (inode, mtime_ns, size) of a state file; `_ABSENT` when there is none.
_FileId = tuple[int, int, int]
_ABSENT: _FileId = (0, 0, -1)


class LocalBackend:
    """State files under ``<root>/<target>/``: ``<stack>.json``, ``.lock``, ``.history.jsonl``.

    Kept versions of each document are in ``<target>/.versions/<stack>/<serial>.json``
    (hard links to the state files, so keeping them costs no copy). The stack lock is an
    OS lock on ``<stack>.lock`` (see `infradsl.state._flock`): the kernel releases it when
    its process dies. Writes check and rename under another OS lock,
    ``.<stack>.write.lock``, so the compare-and-swap is atomic. Every file is created
    readable by its owner only (0600), every folder infradsl creates 0700.

    Args:
        root: the state directory (default ``.infradsl/state`` in the working directory).
        target: ``local`` or ``aws``: each target has its own states.
    """

    def __init__(self, root: str | os.PathLike[str], target: str) -> None:
        self.root = Path(root)
        self.target = target
        # Stacks whose starting document this instance kept as a version (once per run).
        self._versioned: set[str] = set()
        # Stacks whose current document this instance wrote last: kept as a version when
        # it releases its lock, so the newest good state survives damage to the file.
        self._final: set[str] = set()
        self.folder = self.root / target
        # stack -> the document this instance last read or wrote, as (serial, lineage) or
        # None when there was none, and the file's identity then. A write is a compare-and-
        # swap on that identity: while the file is unchanged the serial check needs no
        # re-read (a deploy writes state after every operation, so this keeps writes cheap
        # on large stacks); once another writer changed it, every write is refused until the
        # state is read again, so a stale writer can never overwrite newer state.
        self._known: dict[str, tuple[tuple[int, str] | None, _FileId]] = {}

    @property
    def location(self) -> str:
        """Where the states are, for messages."""
        return str(self.folder)

    def _path(self, stack: str, suffix: str) -> Path:
        return self.folder / f"{check_stack_name(stack)}{suffix}"

    def _versions_dir(self, stack: str) -> Path:
        return self.folder / ".versions" / check_stack_name(stack)

    @contextmanager
    def _disk(self, what: str, outcome: str) -> Iterator[None]:
        with disk_errors(what, outcome, self.folder):
            yield

    @contextmanager
    def _writing(self, stack: str) -> Iterator[None]:
        """Hold the stack's write lock: a compare-and-swap checks and renames under it."""
        make_private_dirs(self.folder)
        with _flock.write_lock(self.folder / f".{stack}.write.lock"):
            yield

    def read(self, stack: str) -> StackState | None:
        path = self._path(stack, ".json")
        with self._disk(f"read the state of {stack!r} from {path}", "nothing was changed"):
            try:
                with open(path, "rb") as file:
                    # The identity of the very file read (it may be replaced right after).
                    ident = _file_id(os.fstat(file.fileno()))
                    data = file.read()
            except FileNotFoundError:
                self._known[stack] = (None, _ABSENT)
                return None
        state = _parse(data, path, stack)
        self._known[stack] = ((state.serial, state.lineage), ident)
        return state

    def write(self, state: StackState) -> None:
        stack = state.stack
        path = self._path(stack, ".json")
        what = f"write the state of {stack!r} to {path}"
        with self._disk(what, "nothing was written"), self._writing(stack):
            base = self._base(stack)
            if base is not None:
                check_successor(base[0], base[1], state, str(path))
                self._keep_start(stack, base[0])
            write_atomic(path, _dump(state))
            self._known[stack] = ((state.serial, state.lineage), self._stat(stack))
        self._final.add(stack)

    def _base(self, stack: str) -> tuple[int, str] | None:
        """Serial and lineage of the stored document this instance may overwrite.

        Raises:
            StateError: the document is corrupt, or another writer changed it since this
                instance last read or wrote it.
        """
        known = self._known.get(stack)
        if known is None:
            current = self.read(stack)
            return (current.serial, current.lineage) if current else None
        if known[1] == self._stat(stack):
            return known[0]
        path = self._path(stack, ".json")
        now = _load(path, stack)
        what = (
            f"another run wrote state serial {now.serial} (lineage {now.lineage}) to {path}"
            if now is not None
            else f"another run removed {path}"
        )
        base = f"serial {known[0][0]}" if known[0] else "no state"
        raise StateError(
            f"refusing to write state of {stack!r}: {what} since this run read {base}; "
            "nothing was written. Run again to start from the current state"
        )

    def _stat(self, stack: str) -> _FileId:
        try:
            return _file_id(self._path(stack, ".json").stat())
        except FileNotFoundError:
            return _ABSENT

    def restore(self, stack: str, state: StackState | None) -> None:
        path = self._path(stack, ".json")
        what = f"restore the state of {stack!r} at {path}"
        with self._disk(what, "nothing was written"), self._writing(stack):
            base = self._base(stack)  # a corrupt or foreign document is refused
            if base is not None:
                self._keep_start(stack, base[0])
            if state is None:
                path.unlink(missing_ok=True)
                self._known[stack] = (None, _ABSENT)
            else:
                write_atomic(path, _dump(state))
                self._known[stack] = ((state.serial, state.lineage), self._stat(stack))
        if state is None:
            self._final.discard(stack)
        else:
            self._final.add(stack)

    # -- versions ----------------------------------------------------------------------

    def _keep_start(self, stack: str, serial: int) -> None:
        """Keep the current document as version ``serial`` before this run first replaces
        it (the caller holds the write lock)."""
        # One version per run (per backend instance): a deploy writes state after every
        # operation, and ten kept versions should reach back ten runs, not ten calls.
        if stack not in self._versioned:
            self._versioned.add(stack)
            self._keep(stack, serial)

    def _keep_final(self, stack: str) -> None:
        """Keep the document this run wrote last, if it is still the current one."""
        known = self._known.get(stack)
        path = self._path(stack, ".json")
        if known is None or known[0] is None:
            return
        what = f"keep the final state of {stack!r} ({path}) as a version"
        with self._disk(what, "the state itself is intact"), self._writing(stack):
            if self._stat(stack) == known[1]:
                # A copy, not a link: the current file stays, and damage done to it in
                # place (an editor, a truncation) must not reach its kept version.
                self._keep(stack, known[0][0], copy=True)
        self._final.discard(stack)

    def _keep(self, stack: str, serial: int, *, copy: bool = False) -> None:
        """Keep the current document as version ``serial``; prune beyond `MAX_VERSIONS`.

        Without ``copy`` the version is a hard link: for a document about to be replaced
        by rename, so it costs nothing and keeps its mtime (when it was written).
        """
        folder = self._versions_dir(stack)
        make_private_dirs(folder)
        target = folder / f"{serial}.json"
        target.unlink(missing_ok=True)
        current = self._path(stack, ".json")
        linked = False
        if not copy:
            try:
                os.link(current, target)
                linked = True
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
        if not linked:
            written = current.stat()
            write_atomic(target, current.read_bytes())
            os.utime(target, ns=(written.st_atime_ns, written.st_mtime_ns))
        for _, _, path in self._version_files(stack)[MAX_VERSIONS:]:
            path.unlink(missing_ok=True)

    def _version_files(self, stack: str) -> list[tuple[int, float, Path]]:
        """(serial, written, path) of the kept versions, newest first."""
        found: list[tuple[int, float, Path]] = []
        folder = self._versions_dir(stack)
        if not folder.is_dir():
            return []
        for path in folder.glob("*.json"):
            try:
                serial = int(path.stem)
                written = path.stat().st_mtime
            except (ValueError, FileNotFoundError):
                continue
            found.append((serial, written, path))
        # Newest written first; a second write of a serial (after a rollback) replaces it.
        found.sort(key=lambda item: (item[1], item[0]), reverse=True)
        return found

    def versions(self, stack: str) -> list[tuple[int, float]]:
        folder = self._versions_dir(stack)
        with self._disk(f"list the kept versions in {folder}", "nothing was changed"):
            return [(serial, written) for serial, written, _ in self._version_files(stack)]

    def read_version(self, stack: str, serial: int) -> StackState:
        path = self._versions_dir(stack) / f"{serial}.json"
        with self._disk(f"read {path}", "nothing was changed"):
            version = _load(path)
        if version is None:
            raise missing_version(stack, serial, [s for s, _ in self.versions(stack)])
        return version

    def restore_version(self, stack: str, serial: int) -> StackState:
        version = self.read_version(stack, serial)
        serials = [s for s, _ in self.versions(stack)]
        try:
            current = self.read(stack)
        except StateError:
            # Damage: the corrupt document is set aside next to the versions, then replaced.
            state = restored(stack, serial, version, None, serials)
            path = self._path(stack, ".json")
            what = f"restore the state of {stack!r} at {path}"
            with self._disk(what, "nothing was written"), self._writing(stack):
                aside = self._versions_dir(stack) / f"corrupt-{time.time_ns()}.json"
                make_private_dirs(aside.parent)
                write_atomic(aside, path.read_bytes())
                write_atomic(path, _dump(state))
                self._known[stack] = ((state.serial, state.lineage), self._stat(stack))
            self._final.add(stack)
            return state
        state = restored(stack, serial, version, current, serials)
        self.write(state)
        return state

    # -- lock --------------------------------------------------------------------------

    def lock(self, stack: str, info: LockInfo) -> LockInfo | None:
        path = self._path(stack, ".lock")
        with self._disk(f"take the lock of {stack!r} at {path}", "the stack was not locked"):
            make_private_dirs(self.folder)
            return _flock.acquire(path, stack, info)

    def unlock(self, stack: str, lock_id: str) -> None:
        path = self._path(stack, ".lock")
        try:
            if stack in self._final:
                holder = self.lock_holder(stack)
                if holder is not None and holder.id == lock_id:
                    self._keep_final(stack)
        finally:
            with self._disk(f"release the lock of {stack!r} at {path}", "it is still held"):
                _flock.release(path, lock_id)

    def lock_holder(self, stack: str) -> LockInfo | None:
        path = self._path(stack, ".lock")
        with self._disk(f"read the lock of {stack!r} at {path}", "nothing was changed"):
            return _flock.read_holder(path)

    # -- listing and history -----------------------------------------------------------

    def stacks(self) -> list[str]:
        return self._names(".json")

    def locked_stacks(self) -> list[str]:
        return self._names(".lock")

    def _names(self, suffix: str) -> list[str]:
        with self._disk(f"list {self.folder}", "nothing was changed"):
            if not self.folder.is_dir():
                return []
            names = (p.name[: -len(suffix)] for p in self.folder.glob(f"*{suffix}"))
            return sorted(name for name in names if is_stack_name(name))

    def append_history(self, stack: str, record: Mapping[str, Any]) -> None:
        path = self._path(stack, ".history.jsonl")
        line = (json.dumps(dict(record), sort_keys=True) + "\n").encode()
        with self._disk(f"record history of {stack!r} in {path}", "the run was not recorded"):
            make_private_dirs(self.folder)
            append_private(path, line)

    def history_stacks(self) -> list[str]:
        return self._names(".history.jsonl")

    def history(self, stack: str) -> list[dict[str, Any]]:
        path = self._path(stack, ".history.jsonl")
        with self._disk(f"read the history of {stack!r} in {path}", "nothing was changed"):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                return []
        return [json.loads(line) for line in lines if line.strip()]


def _file_id(info: os.stat_result) -> _FileId:
    # Every write replaces the file by rename, so a new inode; mtime and size guard reuse.
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _load(path: Path, stack: str | None = None) -> StackState | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _parse(data, path, stack)


def _parse(data: bytes, path: Path, stack: str | None = None) -> StackState:
    """Parse a document; ``stack`` when it is that stack's current state (for the advice)."""
    try:
        return StackState.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise corrupt(f"state file {path}", exc, stack) from exc


def _dump(state: StackState) -> bytes:
    # Compact: the C encoder is four times faster than indent=2, and state is written after
    # every operation. `infradsl state show` is the human view.
    return (json.dumps(state.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()
