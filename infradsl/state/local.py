"""The local file backend: one JSON document per target and stack, written atomically."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infradsl.state._versions import check_successor, missing_version, restored
from infradsl.state.backend import MAX_VERSIONS, LockInfo, StateError, StateLockedError
from infradsl.state.model import StackState

__all__ = ["LocalBackend"]

# (inode, mtime_ns, size) of a state file; `_ABSENT` when there is none.
_FileId = tuple[int, int, int]
_ABSENT: _FileId = (0, 0, -1)


class LocalBackend:
    """State files under ``<root>/<target>/``: ``<stack>.json``, ``.lock``, ``.history.jsonl``.

    Previous versions of each document are kept in ``<target>/.versions/<stack>/<serial>.json``
    (hard links to the replaced files, so keeping them costs no copy).

    Args:
        root: the state directory (default ``.infradsl/state`` in the working directory).
        target: ``local`` or ``aws``: each target has its own states.
    """

    def __init__(self, root: str | os.PathLike[str], target: str) -> None:
        self.root = Path(root)
        self.target = target
        self._versioned: set[str] = set()
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
        return self.folder / f"{stack}{suffix}"

    def _versions_dir(self, stack: str) -> Path:
        return self.folder / ".versions" / stack

    def read(self, stack: str) -> StackState | None:
        path = self._path(stack, ".json")
        try:
            with open(path, "rb") as file:
                # The identity of the very file read (it may be replaced right after).
                ident = _file_id(os.fstat(file.fileno()))
                data = file.read()
        except FileNotFoundError:
            self._known[stack] = (None, _ABSENT)
            return None
        state = _parse(data, path)
        self._known[stack] = ((state.serial, state.lineage), ident)
        return state

    def write(self, state: StackState) -> None:
        base = self._base(state.stack)
        if base is not None:
            check_successor(base[0], base[1], state, str(self._path(state.stack, ".json")))
            self._keep_version(state.stack, base[0])
        self._write_bytes(state.stack, _dump(state))
        self._known[state.stack] = ((state.serial, state.lineage), self._stat(state.stack))

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
        now = _load(path)
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
        base = self._base(stack)  # a corrupt or foreign document is refused, never replaced
        if base is not None:
            self._keep_version(stack, base[0])
        if state is None:
            self._path(stack, ".json").unlink(missing_ok=True)
            self._known[stack] = (None, _ABSENT)
        else:
            self._write_bytes(stack, _dump(state))
            self._known[stack] = ((state.serial, state.lineage), self._stat(stack))

    def _write_bytes(self, stack: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(stack, ".json")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)

    # -- versions ----------------------------------------------------------------------

    def _keep_version(self, stack: str, serial: int) -> None:
        """Keep the current document as version ``serial`` (before it is replaced)."""
        # One version per run (per backend instance): a deploy writes state after every
        # operation, and ten kept versions should reach back ten deploys, not ten calls.
        if stack in self._versioned:
            return
        self._versioned.add(stack)
        folder = self._versions_dir(stack)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{serial}.json"
        target.unlink(missing_ok=True)
        try:
            # The current file is replaced by rename, never rewritten, so a hard link keeps
            # its content (and its mtime: when it was written) at no cost.
            os.link(self._path(stack, ".json"), target)
        except OSError:
            shutil.copy2(self._path(stack, ".json"), target)
        kept = self._version_files(stack)
        for _, _, path in kept[MAX_VERSIONS:]:
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
        return [(serial, written) for serial, written, _ in self._version_files(stack)]

    def read_version(self, stack: str, serial: int) -> StackState:
        path = self._versions_dir(stack) / f"{serial}.json"
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
            aside = self._versions_dir(stack) / f"corrupt-{time.time_ns()}.json"
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, aside)
            self._write_bytes(stack, _dump(state))
            self._known[stack] = ((state.serial, state.lineage), self._stat(stack))
            return state
        state = restored(stack, serial, version, current, serials)
        self.write(state)
        return state

    # -- lock --------------------------------------------------------------------------

    def lock(self, stack: str, info: LockInfo) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(stack, ".lock")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = self.lock_holder(stack)
            if holder is None:  # released in between: try once more
                return self.lock(stack, info)
            raise StateLockedError(stack, holder, stale=holder.holder_gone()) from None
        with os.fdopen(fd, "w") as file:
            json.dump(info.to_json(), file)
            file.flush()
            os.fsync(file.fileno())
        return None

    def unlock(self, stack: str, lock_id: str) -> None:
        holder = self.lock_holder(stack)
        if holder is not None and holder.id == lock_id:
            self._path(stack, ".lock").unlink(missing_ok=True)

    def lock_holder(self, stack: str) -> LockInfo | None:
        try:
            data = json.loads(self._path(stack, ".lock").read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            # A lock file being written right now, or torn by a crash.
            return LockInfo(id="unreadable", user="?", host="?", pid=0, operation="?", created=0)
        return LockInfo.from_json(data)

    # -- listing and history -----------------------------------------------------------

    def stacks(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name[: -len(".json")]
            for p in self.folder.glob("*.json")
            if not p.name.startswith(".")
        )

    def append_history(self, stack: str, record: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self._path(stack, ".history.jsonl"), "a", encoding="utf-8") as file:
            file.write(json.dumps(dict(record), sort_keys=True) + "\n")

    def history(self, stack: str) -> list[dict[str, Any]]:
        try:
            lines = self._path(stack, ".history.jsonl").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


def _file_id(info: os.stat_result) -> _FileId:
    # Every write replaces the file by rename, so a new inode; mtime and size guard reuse.
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _load(path: Path) -> StackState | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _parse(data, path)


def _parse(data: bytes, path: Path) -> StackState:
    try:
        return StackState.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(
            f"state file {path} is corrupt ({exc}); nothing was changed. Restore it from "
            "a backup or version control, or list kept versions with `infradsl state history`"
        ) from exc


def _dump(state: StackState) -> bytes:
    # Compact: the C encoder is four times faster than indent=2, and state is written after
    # every operation. `infradsl state show` is the human view.
    return (json.dumps(state.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()
