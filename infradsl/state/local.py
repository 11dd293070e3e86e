"""The local file backend: one JSON document per target and stack, written atomically."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import attrs

from infradsl.state import _flock, _journal
from infradsl.state._files import (
    append_private,
    disk_errors,
    make_private_dirs,
    write_all,
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
from infradsl.state.delta import apply_record, diff
from infradsl.state.model import FORMAT, StackState

__all__ = ["COMPACT_BYTES", "LocalBackend"]

COMPACT_BYTES = 256 * 1024
"""A journal is compacted into its document once it is longer than this and than half the
document: compaction then costs a constant share of each record, at any stack size."""

# (inode, mtime_ns, size) of a state file; `_ABSENT` when there is none.
_FileId = tuple[int, int, int]
_ABSENT: _FileId = (0, 0, -1)


class LocalBackend:
    """State files under ``<root>/<target>/``: ``<stack>.json``, ``.journal``, ``.lock``,
    ``.history.jsonl``.

    The state of a stack is its document, ``<stack>.json``, followed by the records of its
    journal, ``<stack>.journal``: a write appends what changed (`infradsl.state.delta`)
    as one checksummed line and ``fsync``s it, so it costs the same at 20,000 resources
    as at 20. The journal names the document it follows (the document's ``journal_id``)
    and is compacted into a new document when it outgrows half the document, and when
    the run releases its lock. A record cut short by a crash is ignored.

    Kept versions are whole documents in ``<target>/.versions/<stack>/<serial>.json``. The
    stack lock is an OS lock on ``<stack>.lock`` (see `infradsl.state._flock`): the kernel
    releases it when its process dies. Writes check and append or rename under another OS
    lock, ``.<stack>.write.lock``, so the compare-and-swap is atomic. Every file is created
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
        # Stacks whose current state this instance wrote last: compacted and kept as a
        # version when it releases its lock, so the newest good state survives damage.
        self._final: set[str] = set()
        self.folder = self.root / target
        # stack -> the state this instance last read or wrote, with the identity of its
        # files then. A write is a compare-and-swap on those identities: while both files
        # are unchanged the serial check needs no re-read; once another writer changed
        # one, every write is refused until the state is read again, so a stale writer
        # can never overwrite newer state.
        self._known: dict[str, _Seen] = {}

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
        """Hold the stack's write lock: a compare-and-swap checks and writes under it."""
        make_private_dirs(self.folder)
        with _flock.write_lock(self.folder / f".{stack}.write.lock"):
            yield

    def read(self, stack: str) -> StackState | None:
        path = self._path(stack, ".json")
        with self._disk(f"read the state of {stack!r} from {path}", "nothing was changed"):
            seen = self._load(stack)
        self._known[stack] = seen
        return seen.state

    def _load(self, stack: str) -> _Seen:
        """The stack's current state: its document and the journal records after it.

        Raises:
            StateError: the document or the journal is corrupt.
            OSError: the disk refused (the caller explains).
        """
        path = self._path(stack, ".json")
        try:
            with open(path, "rb") as file:
                # The identity of the very file read (it may be replaced right after).
                ident = _file_id(os.fstat(file.fileno()))
                data = file.read()
        except FileNotFoundError:
            return _Seen(None, _ABSENT, self._stat(stack, ".journal"))
        document = _parse_document(data, path, stack)
        journal = self._path(stack, ".journal")
        try:
            with open(journal, "rb") as file:
                info = os.fstat(file.fileno())
                # Exactly the bytes that identity covers: an append right now is seen
                # as a change by the next write, which then refuses.
                records = file.read(info.st_size)
                journal_id, written = _file_id(info), info.st_mtime
        except FileNotFoundError:
            records, journal_id, written = b"", _ABSENT, 0.0
        token = document.get("journal_id")
        follows = token is not None and _journal.follows(records, token)
        try:
            parsed = _journal.parse(records) if follows else _journal.EMPTY
            for record in parsed.records:
                apply_record(document, record)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise corrupt(f"state journal {journal}", exc, stack) from exc
        applied = len(parsed.records) if follows else 0
        try:
            state = StackState.from_json(document)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            what = f"state file {path}" + (f" with its journal {journal}" if applied else "")
            raise corrupt(what, exc, stack) from exc
        return _Seen(
            state,
            ident,
            journal_id,
            token=token if isinstance(token, str) else None,
            end=parsed.end if follows else 0,
            records=applied,
            size=len(data),
            written=written if applied else ident[1] / 1e9,
        )

    def write(self, state: StackState) -> None:
        stack = state.stack
        path = self._path(stack, ".json")
        what = f"write the state of {stack!r} to {path}"
        with self._disk(what, "nothing was written"), self._writing(stack):
            seen = self._base(stack)
            delta = None
            if seen.state is not None:
                check_successor(seen.state.serial, seen.state.lineage, state, str(path))
                self._keep_start(stack, seen)
                if seen.token is not None and seen.end <= max(COMPACT_BYTES, seen.size // 2):
                    delta = diff(seen.state, state)
            if delta is None:
                # No document yet, another lineage, or a journal due for compaction.
                self._replace(stack, state)
            else:
                self._append(stack, seen, state, _journal.encode(delta.to_json()))
        self._final.add(stack)

    def _base(self, stack: str) -> _Seen:
        """The stored state this instance may overwrite (the caller holds the write lock).

        Raises:
            StateError: the state is corrupt, or another writer changed it since this
                instance last read or wrote it.
        """
        known = self._known.get(stack)
        if known is None:
            self.read(stack)
            return self._known[stack]
        if known.state is None and known.doc == _ABSENT and self._stat(stack) == _ABSENT:
            return known  # still no state (a journal left without a document is void)
        if (known.doc, known.journal) == (self._stat(stack), self._stat(stack, ".journal")):
            return known
        path = self._path(stack, ".json")
        now = self._load(stack).state
        what = (
            f"another run wrote state serial {now.serial} (lineage {now.lineage}) to {path}"
            if now is not None
            else f"another run removed {path}"
        )
        base = f"serial {known.state.serial}" if known.state else "no state"
        raise StateError(
            f"refusing to write state of {stack!r}: {what} since this run read {base}; "
            "nothing was written. Run again to start from the current state"
        )

    def _stat(self, stack: str, suffix: str = ".json") -> _FileId:
        try:
            return _file_id(self._path(stack, suffix).stat())
        except FileNotFoundError:
            return _ABSENT

    def _replace(self, stack: str, state: StackState) -> None:
        """Write ``state`` as a new document and drop the journal (the caller holds the
        write lock). A crash between the two leaves a journal that names the previous
        document, which readers ignore."""
        token = uuid.uuid4().hex
        data = _dump(state, token)
        write_atomic(self._path(stack, ".json"), data)
        ident = self._stat(stack)
        self._path(stack, ".journal").unlink(missing_ok=True)
        self._known[stack] = _Seen(state, ident, _ABSENT, token, size=len(data))

    def _append(self, stack: str, seen: _Seen, state: StackState, record: bytes) -> None:
        """Append one record to the journal and ``fsync`` it (the caller holds the write
        lock and checked that the files are as ``seen``)."""
        assert seen.token is not None
        path = self._path(stack, ".journal")
        if seen.end == 0:
            # No journal after this document yet (or only a torn header): start one.
            data = _journal.header(seen.token) + record
            write_atomic(path, data)
            ident, end = self._stat(stack, ".journal"), len(data)
        else:
            fd = os.open(path, os.O_WRONLY)
            try:
                try:
                    if os.fstat(fd).st_size != seen.end:
                        os.ftruncate(fd, seen.end)  # the torn tail of a dead run's append
                    os.lseek(fd, seen.end, os.SEEK_SET)
                    write_all(fd, record)
                    os.fsync(fd)
                except BaseException:
                    # Leave no half record: the journal stays as this instance knows it.
                    with suppress(OSError):
                        os.ftruncate(fd, seen.end)
                        seen.journal = _file_id(os.fstat(fd))
                    raise
                ident, end = _file_id(os.fstat(fd)), seen.end + len(record)
            finally:
                os.close(fd)
        self._known[stack] = attrs.evolve(
            seen, state=state, journal=ident, end=end, records=seen.records + 1
        )

    def restore(self, stack: str, state: StackState | None) -> None:
        path = self._path(stack, ".json")
        what = f"restore the state of {stack!r} at {path}"
        with self._disk(what, "nothing was written"), self._writing(stack):
            seen = self._base(stack)  # a corrupt or foreign state is refused
            if seen.state is not None:
                self._keep_start(stack, seen)
            if state is None:
                path.unlink(missing_ok=True)
                self._path(stack, ".journal").unlink(missing_ok=True)
                self._known[stack] = _Seen(None, _ABSENT, _ABSENT)
            elif seen.token is not None and path.read_bytes() == _dump(state, seen.token):
                # The document alone is that state (a rollback of a run that did not
                # compact): dropping the journal restores it, atomically, byte for byte.
                self._path(stack, ".journal").unlink(missing_ok=True)
                self._known[stack] = _Seen(state, seen.doc, _ABSENT, seen.token, size=seen.size)
            else:
                self._replace(stack, state)
        if state is None:
            self._final.discard(stack)
        else:
            self._final.add(stack)

    # -- versions ----------------------------------------------------------------------

    def _keep_start(self, stack: str, seen: _Seen) -> None:
        """Keep the current state as a version before this run first replaces it (the
        caller holds the write lock and checked the files are as ``seen``)."""
        # One version per run (per backend instance): a deploy writes state after every
        # operation, and ten kept versions should reach back ten runs, not ten calls.
        if stack not in self._versioned and seen.state is not None:
            self._versioned.add(stack)
            if seen.records:
                # The state is the document and a journal (a run that died): a version
                # is a whole document.
                self._keep(stack, seen.state.serial, _dump(seen.state, None))
                when = int(seen.written * 1e9)
                target = self._versions_dir(stack) / f"{seen.state.serial}.json"
                os.utime(target, ns=(when, when))
            else:
                self._keep(stack, seen.state.serial)

    def _keep_final(self, stack: str) -> None:
        """Compact the state this run wrote last, if it is still the current one, and keep
        it as a version."""
        known = self._known.get(stack)
        path = self._path(stack, ".json")
        if known is None or known.state is None:
            return
        what = f"keep the final state of {stack!r} ({path}) as a version"
        with self._disk(what, "the state itself is intact"), self._writing(stack):
            now = (self._stat(stack), self._stat(stack, ".journal"))
            if now == (known.doc, known.journal):
                if known.records or known.end:
                    self._replace(stack, known.state)
                self._keep(stack, known.state.serial)
        self._final.discard(stack)

    def _keep(self, stack: str, serial: int, data: bytes | None = None) -> None:
        """Keep a copy of the current document (or ``data``) as version ``serial``; prune
        beyond `MAX_VERSIONS`.

        A copy, not a link: the document stays in place while its journal grows, and
        damage done to it in place (an editor, a truncation) must not reach its kept
        version. A copy keeps the document's mtime: when it was written.
        """
        folder = self._versions_dir(stack)
        make_private_dirs(folder)
        target = folder / f"{serial}.json"
        target.unlink(missing_ok=True)
        if data is not None:
            write_atomic(target, data)
        else:
            current = self._path(stack, ".json")
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
            version = _load_version(path)
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
                self._replace(stack, state)
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
    # Documents are replaced by rename (a new inode) and journals grow by appends (a new
    # size and mtime); mtime and size guard inode reuse.
    return (info.st_ino, info.st_mtime_ns, info.st_size)


@attrs.define
class _Seen:
    """A stack's stored state as this instance last read or wrote it.

    Attributes:
        state: the state (``None``: there was none).
        doc: the identity of the document file then (`_ABSENT`: none).
        journal: the identity of the journal file then (`_ABSENT`: none).
        token: the document's ``journal_id``: a journal that names another follows an
            older document and is ignored.
        end: where the next journal record goes (0: no journal follows the document yet).
        records: how many journal records follow the document.
        size: the size of the document, in bytes.
        written: when the state was written (epoch seconds).
    """

    state: StackState | None
    doc: _FileId
    journal: _FileId
    token: str | None = None
    end: int = 0
    records: int = 0
    size: int = 0
    written: float = attrs.Factory(time.time)


def _load_version(path: Path) -> StackState | None:
    """A whole document (a kept version), without a journal."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return StackState.from_json(_parse_document(data, path))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise corrupt(f"state file {path}", exc, None) from exc


def _parse_document(data: bytes, path: Path, stack: str | None = None) -> dict[str, Any]:
    """The plain data of a document; ``stack`` when it is that stack's current state (for
    the advice)."""
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("infradsl_state") != FORMAT:
            found = document.get("infradsl_state") if isinstance(document, dict) else None
            raise ValueError(f"not an infradsl state document (format {found!r})")
    except ValueError as exc:
        raise corrupt(f"state file {path}", exc, stack) from exc
    result: dict[str, Any] = document
    return result


def _dump(state: StackState, journal_id: str | None) -> bytes:
    """A document; ``journal_id`` names it for the journal that will follow it."""
    # Compact: the C encoder is four times faster than indent=2. `infradsl state show` is
    # the human view.
    data = state.to_json()
    if journal_id is not None:
        data["journal_id"] = journal_id
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
