"""The local file backend: one JSON document per target and stack, written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infradsl.state.backend import LockInfo, StateError, StateLockedError
from infradsl.state.model import StackState

__all__ = ["LocalBackend"]


class LocalBackend:
    """State files under ``<root>/<target>/``: ``<stack>.json``, ``.lock``, ``.history.jsonl``.

    Args:
        root: the state directory (default ``.infradsl/state`` in the working directory).
        target: ``local`` or ``aws``: each target has its own states.
    """

    def __init__(self, root: str | os.PathLike[str], target: str) -> None:
        self.root = Path(root)
        self.target = target
        self.folder = self.root / target
        # stack -> (serial, lineage, (mtime_ns, size)) of our own last write: while the file
        # is unchanged on disk the serial check needs no re-read (a deploy writes state after
        # every operation, so this keeps writes cheap on large stacks).
        self._written: dict[str, tuple[int, str, tuple[int, int]]] = {}

    def _path(self, stack: str, suffix: str) -> Path:
        return self.folder / f"{stack}{suffix}"

    def read(self, stack: str) -> StackState | None:
        path = self._path(stack, ".json")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return StackState.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"state file {path} is corrupt ({exc}); nothing was changed. Restore it from "
                "a backup or version control before deploying again"
            ) from exc

    def write(self, state: StackState) -> None:
        known = self._written.get(state.stack)
        if known is not None and known[2] == self._stat(state.stack):
            on_disk: tuple[int, str] | None = (known[0], known[1])
        else:
            current = self.read(state.stack)
            on_disk = (current.serial, current.lineage) if current else None
        if on_disk is not None:
            serial, lineage = on_disk
            if lineage != state.lineage:
                raise StateError(
                    f"refusing to overwrite state of {state.stack!r}: lineage {lineage} "
                    f"on disk differs from {state.lineage} (another stack with the same name?)"
                )
            if serial >= state.serial:
                raise StateError(
                    f"refusing to overwrite state of {state.stack!r}: serial {serial} on "
                    f"disk is not older than {state.serial} (another run wrote it)"
                )
        self._write_bytes(state.stack, _dump(state))
        self._written[state.stack] = (state.serial, state.lineage, self._stat(state.stack))

    def _stat(self, stack: str) -> tuple[int, int]:
        try:
            info = self._path(stack, ".json").stat()
        except FileNotFoundError:
            return (0, -1)
        return (info.st_mtime_ns, info.st_size)

    def restore(self, stack: str, state: StackState | None) -> None:
        self._written.pop(stack, None)
        if state is None:
            self._path(stack, ".json").unlink(missing_ok=True)
        else:
            self._write_bytes(stack, _dump(state))

    def _write_bytes(self, stack: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(stack, ".json")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)

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


def _dump(state: StackState) -> bytes:
    # Compact: the C encoder is four times faster than indent=2, and state is written after
    # every operation. `infradsl state show` is the human view.
    return (json.dumps(state.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()
