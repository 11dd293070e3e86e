"""The S3 backend: state documents and their journals in a bucket, guarded by conditional
writes.

Layout under ``s3://<bucket>/<prefix>/<target>/``:

- ``<stack>.json``: the state document. It names its journal (``journal_id``).
- ``<stack>.journal/<journal id>/<n>.json``: the journal: the changes written after the
  document (`infradsl.state.delta`), one object each, numbered from 1. A write creates
  the next number with ``IfNoneMatch="*"``, so of two writers that read the same state,
  one gets it and the other is refused: the compare-and-swap. A write costs the same at
  any stack size; the executor makes concurrent operations share one (group commit).
- The journal is compacted into a new document (with a new journal id) when it outgrows
  half the document or `MAX_RECORDS`, and when the run releases its lock. The document
  is replaced with ``IfMatch`` on its ETag, after a *seal* took the journal's next
  number: no writer can add to a journal whose document is being replaced. The old
  journal is deleted afterwards; a writer that creates a record where one was deleted
  then finds the document changed (it checks the document's ETag after every record),
  so a stale writer is always refused.
- ``<stack>.lock``: the lock, created with ``IfNoneMatch="*"``: exactly one run gets it.
  A lock whose holder ran on this host and is gone is taken over with ``IfMatch`` on the
  dead holder's object, so of two runs taking it over, one gets it.
- ``<stack>.versions/<serial>.json``: the last `MAX_VERSIONS` kept documents.
- ``<stack>.history/<time_ns>-<id>.json``: one object per deployment record.

A conditional write can succeed on the server and still fail for the client: its answer
was lost (a 500, a dropped connection), botocore retried it, and the retry failed its own
condition (412). Every conditional write therefore carries an id (in the object's
metadata; the lock id in the lock), and a failed condition is checked against the object
now stored: when it is this write, the write succeeded.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
from botocore.exceptions import BotoCoreError, ClientError

from infradsl.state._s3calls import CONFLICT, S3Calls, code, float_or
from infradsl.state._s3clients import ClientProvider, S3Clients
from infradsl.state._versions import check_successor, corrupt, missing_version, restored
from infradsl.state.backend import (
    MAX_VERSIONS,
    LockInfo,
    StateError,
    StateLockedError,
    check_stack_name,
    is_stack_name,
)
from infradsl.state.delta import Delta, apply_record, diff
from infradsl.state.model import StackState

__all__ = ["COMPACT_BYTES", "MAX_RECORDS", "ClientProvider", "S3Backend", "S3Clients"]

COMPACT_BYTES = 256 * 1024
"""A journal is compacted once its records are longer than this and than half the
document: compaction then costs a constant share of each record, at any stack size."""

MAX_RECORDS = 500
"""A journal is compacted once it has this many records: a read fetches each of them."""

_SEAL = b'{"seal":true}'
_READERS = 8  # journal records fetched at once by a read
_READ_ATTEMPTS = 5  # reads of a state that a compaction replaced meanwhile


@attrs.define
class _Seen:
    """A stack's stored state as this backend last read or wrote it.

    Attributes:
        state: the state (``None``: there was none).
        etag: the document's ETag: the condition of its replacement.
        token: the document's journal id.
        seq: the number of the journal's last object (0: none).
        sealed: the journal's last object is a seal: the next write replaces the document.
        size: the document's size in bytes.
        journal: the size of the journal's records in bytes.
        body: the document, when it is the whole state (no record follows it).
        written: when the state was written (epoch seconds).
    """

    state: StackState | None
    etag: str | None = None
    token: str | None = None
    seq: int = 0
    sealed: bool = False
    size: int = 0
    journal: int = 0
    body: bytes | None = None
    written: float = 0.0


@attrs.frozen
class _Chain:
    """A journal as read: its records, the number of its last object, whether that is a
    seal, the records' size and when the last was written."""

    records: list[dict[str, Any]] = attrs.Factory(list)
    seq: int = 0
    sealed: bool = False
    size: int = 0
    written: float = 0.0


class S3Backend(S3Calls):
    """State in an S3 bucket; see the module docstring for the layout.

    Args:
        bucket: the bucket (it must exist; infradsl never creates it).
        prefix: the key prefix inside the bucket (may be empty).
        target: ``local`` or ``aws``: each target has its own states.
        clients: gives the S3 client; for the local target, one for the local cloud.
    """

    def __init__(self, bucket: str, prefix: str, target: str, clients: ClientProvider) -> None:
        super().__init__(bucket, clients)
        self.prefix = prefix.strip("/")
        self.target = target
        # Stacks whose starting document this instance kept as a version (once per run).
        self._versioned: set[str] = set()
        # Stacks whose current state this instance wrote last: compacted and kept as a
        # version when it releases its lock, so the newest good state survives damage.
        self._final: set[str] = set()
        self._base_key = "/".join(p for p in (self.prefix, target) if p)
        # stack -> the state last read or written by this instance. Its document's ETag
        # and its journal's next number are the conditions of the next write, and they
        # stay stale after a conflict, so a stale writer keeps failing until it reads the
        # state again.
        self._known: dict[str, _Seen] = {}
        # stack -> {serial: sort time} of kept versions, listed once, then maintained.
        self._kept: dict[str, dict[int, float]] = {}

    @property
    def location(self) -> str:
        """Where the states are, for messages."""
        return f"s3://{self.bucket}/{self._base_key}"

    def _key(self, stack: str, suffix: str) -> str:
        return f"{self._base_key}/{check_stack_name(stack)}{suffix}"

    def _record_key(self, stack: str, token: str, seq: int) -> str:
        return self._key(stack, f".journal/{token}/{seq:010d}.json")

    # -- reading -----------------------------------------------------------------------

    def read(self, stack: str) -> StackState | None:
        seen = self._load(stack)
        self._known[stack] = seen
        return seen.state

    def _load(self, stack: str) -> _Seen:
        """The stack's current state: its document and the journal records after it.

        Raises:
            StateError: the document or a record is corrupt, or unreadable.
        """
        key = self._key(stack, ".json")
        for _ in range(_READ_ATTEMPTS):
            got = self._get(key, "read state")
            if got is None:
                return _Seen(None)
            try:
                document = json.loads(got.body)
                token = document.get("journal_id") if isinstance(document, dict) else None
            except ValueError as exc:
                raise corrupt(f"state object {self._url(key)}", exc, stack) from exc
            chain = self._chain(stack, token) if isinstance(token, str) else _Chain()
            if chain is None:
                continue  # a compaction replaced the document meanwhile: read it again
            if chain.seq and self._etag(key, "read state") != got.etag:
                continue
            try:
                for record in chain.records:
                    apply_record(document, record)
                state = StackState.from_json(document)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                what = f"state object {self._url(key)}"
                if chain.records:
                    what += f" with its journal {self._url(self._key(stack, '.journal/'))}"
                raise corrupt(what, exc, stack) from exc
            return _Seen(
                state,
                got.etag,
                token if isinstance(token, str) else None,
                chain.seq,
                chain.sealed,
                len(got.body),
                chain.size,
                None if chain.records else got.body,
                chain.written if chain.records else got.written,
            )
        raise StateError(
            f"could not read the state of {stack!r} at {self._url(key)}: it kept changing "
            "while it was read (another run is writing it); nothing was changed"
        )

    def _chain(self, stack: str, token: str) -> _Chain | None:
        """The journal named ``token``, or ``None`` when it changed while it was read."""
        prefix = self._key(stack, f".journal/{token}/")
        numbered: list[tuple[int, str]] = []
        for item in self._list(prefix):
            name = item["Key"][len(prefix) :].removesuffix(".json")
            if name.isdigit():
                numbered.append((int(name), item["Key"]))
        numbered.sort()
        if [seq for seq, _ in numbered] != list(range(1, len(numbered) + 1)):
            return None  # the start is missing: a compaction is deleting it
        if not numbered:
            return _Chain()
        keys = [key for _, key in numbered]
        with ThreadPoolExecutor(min(_READERS, len(keys))) as pool:
            objects = list(pool.map(lambda k: self._get(k, "read the state journal"), keys))
        records: list[dict[str, Any]] = []
        size, written = 0, 0.0
        for (seq, key), found in zip(numbered, objects, strict=True):
            if found is None:
                return None
            if found.body == _SEAL:
                return _Chain(records, seq, True, size, written)
            try:
                record = json.loads(found.body)
            except ValueError as exc:
                raise corrupt(f"state journal record {self._url(key)}", exc, stack) from exc
            records.append(record)
            size += len(found.body)
            written = found.written
        return _Chain(records, len(numbered), False, size, written)

    # -- writing -----------------------------------------------------------------------

    def write(self, state: StackState) -> None:
        stack = state.stack
        seen = self._base(stack)
        delta = None
        if seen.state is not None:
            where = self._url(self._key(stack, ".json"))
            check_successor(seen.state.serial, seen.state.lineage, state, where)
            if (
                seen.token is not None
                and not seen.sealed
                and seen.seq < MAX_RECORDS
                and seen.journal <= max(COMPACT_BYTES, seen.size // 2)
            ):
                delta = diff(seen.state, state)
        if delta is None:
            # No document yet, another lineage, or a journal due for compaction.
            self._replace(stack, state, seen)
        else:
            self._append(stack, state, seen, delta)
        if seen.state is not None:
            # Kept from our copy once the write succeeded: a refused write leaves no trace.
            self._keep_start(stack, seen)
        self._final.add(stack)

    def _base(self, stack: str) -> _Seen:
        if stack not in self._known:
            self.read(stack)
        return self._known[stack]

    def _append(self, stack: str, state: StackState, seen: _Seen, delta: Delta) -> None:
        """Add ``delta`` as the journal's next record."""
        assert seen.token is not None
        seq = seen.seq + 1
        key = self._record_key(stack, seen.token, seq)
        body = json.dumps(delta.to_json(), sort_keys=True, separators=(",", ":")).encode()
        written = time.time()
        if not self._create(key, body, "write state", {"written": repr(written)}):
            raise self._conflict(stack, seen)
        # A record created where a compaction deleted one is not part of the state: the
        # compaction replaced the document before it deleted anything.
        if self._etag(self._key(stack, ".json"), "write state") != seen.etag:
            raise self._conflict(stack, seen)
        self._known[stack] = attrs.evolve(
            seen,
            state=state,
            seq=seq,
            journal=seen.journal + len(body),
            body=None,
            written=written,
        )

    def _replace(self, stack: str, state: StackState, seen: _Seen) -> None:
        """Write ``state`` as a new document with a new journal, then delete the old
        journals."""
        if seen.etag is not None and seen.token is not None and not seen.sealed:
            # Take the journal's next number first: from now on nobody adds to it.
            seal = self._record_key(stack, seen.token, seen.seq + 1)
            if not self._create(seal, _SEAL, "write state", {}):
                raise self._conflict(stack, seen)
            seen.seq, seen.sealed = seen.seq + 1, True
        token = uuid.uuid4().hex
        body = _dump(state, token)
        written = time.time()
        etag = self._put_document(stack, body, written, seen)
        self._known[stack] = _Seen(state, etag, token, 0, False, len(body), 0, body, written)
        if seen.etag is not None:
            self._drop_journals(stack, token)

    def _put_document(self, stack: str, body: bytes, written: float, seen: _Seen) -> str:
        """Put the document: created (``IfNoneMatch``) or replacing ``seen``'s (``IfMatch``).

        Returns:
            Its ETag.
        """
        key = self._key(stack, ".json")
        write_id = uuid.uuid4().hex
        meta = {"written": repr(written), "write-id": write_id}
        try:
            if seen.etag is None:
                response = self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, Metadata=meta, IfNoneMatch="*"
                )
            else:
                response = self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, Metadata=meta, IfMatch=seen.etag
                )
            return response["ETag"]
        except ClientError as exc:
            if code(exc) in CONFLICT or (seen.etag is not None and code(exc) == "NoSuchKey"):
                # Our own write, when an attempt whose answer was lost did succeed.
                now = self._get(key, "read state")
                if now is None or now.metadata.get("write-id") != write_id:
                    raise self._conflict(stack, seen) from None
                return now.etag
            raise self._failure(exc, "write state", key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "write state", key) from exc

    def _drop_journals(self, stack: str, keep: str | None) -> None:
        """Delete the journals but ``keep``'s: they follow documents that were replaced."""
        prefix = self._key(stack, ".journal/")
        try:
            old = [
                item["Key"]
                for item in self._list(prefix)
                if keep is None or not item["Key"].startswith(f"{prefix}{keep}/")
            ]
            self._delete_all(old, "delete an old state journal")
        except StateError:
            pass  # left over, never read again: the document names another journal

    def _conflict(self, stack: str, seen: _Seen) -> StateError:
        key = self._key(stack, ".json")
        now = self._load(stack).state  # not remembered: this writer stays stale
        what = (
            f"another run wrote state serial {now.serial} (lineage {now.lineage}) "
            f"to {self._url(key)}"
            if now is not None
            else f"another run removed {self._url(key)}"
        )
        read = f"serial {seen.state.serial}" if seen.state is not None else "no state"
        return StateError(
            f"refusing to write state of {stack!r}: {what} since this run read {read}; "
            "nothing was written. Run again to start from the current state"
        )

    def restore(self, stack: str, state: StackState | None) -> None:
        seen = self._base(stack)
        if state is not None:
            self._replace(stack, state, seen)
            self._final.add(stack)
        elif seen.etag is not None:
            key = self._key(stack, ".json")
            if seen.token is not None and not seen.sealed:
                seal = self._record_key(stack, seen.token, seen.seq + 1)
                if not self._create(seal, _SEAL, "remove state", {}):
                    raise self._conflict(stack, seen)
                seen.seq, seen.sealed = seen.seq + 1, True
            if self._etag(key, "remove state") != seen.etag:
                raise self._conflict(stack, seen)
            # The lock keeps others out between that check and the delete (conditional
            # deletes are not available on every S3 bucket).
            self._delete(key, "remove state")
            self._known[stack] = _Seen(None)
            self._final.discard(stack)
            self._drop_journals(stack, None)
        if seen.state is not None:
            self._keep_start(stack, seen)

    # -- versions ----------------------------------------------------------------------

    def _versions_prefix(self, stack: str) -> str:
        return self._key(stack, ".versions/")

    def _keep_start(self, stack: str, seen: _Seen) -> None:
        """Keep the state this run first replaced (from our copy, which is exactly what
        was replaced)."""
        # One version per run (per backend instance): a deploy writes state after every
        # operation, and ten kept versions should reach back ten runs, not ten calls.
        if stack not in self._versioned and seen.state is not None:
            self._versioned.add(stack)
            body = seen.body if seen.body is not None else _dump(seen.state, None)
            self._keep(stack, seen.state.serial, body, seen.written)

    def _keep(self, stack: str, serial: int, body: bytes, written: float) -> None:
        """Keep a whole document as version ``serial`` and prune the oldest beyond
        `MAX_VERSIONS`."""
        prefix = self._versions_prefix(stack)
        kept = self._kept.get(stack)
        if kept is None:
            kept = {serial: when for serial, when, _ in self._list_versions(stack)}
            self._kept[stack] = kept
        key = f"{prefix}{serial}.json"
        self._call(
            "keep a state version",
            key,
            lambda: self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata={"written": repr(written)}
            ),
        )
        kept[serial] = time.time()
        order = sorted(kept, key=lambda s: (kept[s], s), reverse=True)
        for old_serial in order[MAX_VERSIONS:]:
            self._delete(f"{prefix}{old_serial}.json", "prune state versions")
            del kept[old_serial]

    def _list_versions(self, stack: str) -> list[tuple[int, float, str]]:
        """(serial, time replaced, key) of the kept versions, newest first."""
        prefix = self._versions_prefix(stack)
        found: list[tuple[int, float, str]] = []
        for item in self._list(prefix):
            name = item["Key"][len(prefix) :]
            if name.endswith(".json") and name[: -len(".json")].isdigit():
                found.append((int(name[: -len(".json")]), item["LastModified"], item["Key"]))
        found.sort(key=lambda v: (v[1], v[0]), reverse=True)
        return found

    def versions(self, stack: str) -> list[tuple[int, float]]:
        result: list[tuple[int, float]] = []
        for serial, replaced, key in self._list_versions(stack):
            head = self._call(
                "read a state version",
                key,
                functools.partial(self._s3.head_object, Bucket=self.bucket, Key=key),
            )
            written = float_or(head.get("Metadata", {}).get("written"), replaced)
            result.append((serial, written))
        return result

    def read_version(self, stack: str, serial: int) -> StackState:
        key = f"{self._versions_prefix(stack)}{serial}.json"
        got = self._get(key, "read state")
        if got is None:
            raise missing_version(stack, serial, [s for s, _, _ in self._list_versions(stack)])
        try:
            return StackState.from_json(json.loads(got.body))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise corrupt(f"state object {self._url(key)}", exc, None) from exc

    def restore_version(self, stack: str, serial: int) -> StackState:
        version = self.read_version(stack, serial)
        serials = [s for s, _, _ in self._list_versions(stack)]
        try:
            current = self.read(stack)
        except StateError:
            # Damage: the corrupt document is set aside next to the versions, then replaced.
            key = self._key(stack, ".json")
            got = self._get(key, "read state")
            if got is None:
                raise
            state = restored(stack, serial, version, None, serials)
            aside = f"{self._versions_prefix(stack)}corrupt-{time.time_ns()}.json"
            self._call(
                "set the corrupt state aside",
                aside,
                functools.partial(
                    self._s3.put_object, Bucket=self.bucket, Key=aside, Body=got.body
                ),
            )
            # Its journal cannot be read, so it cannot be sealed: a writer adding to it
            # finds the document replaced (it checks after every record).
            self._replace(stack, state, _Seen(None, got.etag))
            self._final.add(stack)
            return state
        state = restored(stack, serial, version, current, serials)
        self.write(state)
        return state

    # -- lock --------------------------------------------------------------------------

    def lock(self, stack: str, info: LockInfo) -> LockInfo | None:
        key = self._key(stack, ".lock")
        body = json.dumps(info.to_json()).encode()
        taken_over: LockInfo | None = None
        for _ in range(5):
            if self._put_lock(key, body, None):
                return taken_over
            got = self._get(key, "read the lock")
            if got is None:
                continue  # released in between: try again
            holder = _parse_lock(got.body)
            if holder == info:
                # Our own write: an attempt whose answer was lost succeeded.
                return taken_over
            if holder is None:
                raise StateLockedError(stack, LockInfo.unreadable(), stale=True)
            if not holder.holder_gone():
                raise StateLockedError(stack, holder)
            # A dead holder on this host: replace exactly that object, so of two runs
            # taking it over, one does.
            if self._put_lock(key, body, got.etag):
                return holder
            taken_over = holder  # if the lost answer was ours, the next look says so
        raise StateError(f"could not lock {stack!r} at {self._url(key)}: it keeps changing")

    def _put_lock(self, key: str, body: bytes, if_match: str | None) -> bool:
        """Create the lock object (``if_match=None``) or replace the one with that ETag;
        False when the condition failed."""
        try:
            if if_match is None:
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            else:
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfMatch=if_match)
            return True
        except ClientError as exc:
            if code(exc) in CONFLICT or code(exc) == "NoSuchKey":
                return False
            raise self._failure(exc, "lock", key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "lock", key) from exc

    def unlock(self, stack: str, lock_id: str) -> None:
        holder = self.lock_holder(stack)
        if holder is None or holder.id != lock_id:
            return
        key = self._key(stack, ".lock")
        try:
            known = self._known.get(stack)
            if stack in self._final and known is not None and known.state is not None:
                self._final.discard(stack)
                if known.seq:
                    try:
                        self._replace(stack, known.state, known)  # compact the journal
                    except StateError:
                        return  # another run changed it: this run's state is not the newest
                    known = self._known[stack]
                # The document this run ended with: the newest good state.
                assert known.state is not None and known.body is not None
                self._keep(stack, known.state.serial, known.body, known.written)
        finally:
            self._delete(key, "unlock")

    def lock_holder(self, stack: str) -> LockInfo | None:
        got = self._get(self._key(stack, ".lock"), "read the lock")
        if got is None:
            return None
        return _parse_lock(got.body) or LockInfo.unreadable()

    # -- listing and history -----------------------------------------------------------

    def stacks(self) -> list[str]:
        return self._names(".json")

    def locked_stacks(self) -> list[str]:
        return self._names(".lock")

    def _names(self, suffix: str) -> list[str]:
        prefix = f"{self._base_key}/"
        names = []
        for item in self._list(prefix, delimiter="/"):
            name = item["Key"][len(prefix) :]
            if name.endswith(suffix) and is_stack_name(name[: -len(suffix)]):
                names.append(name[: -len(suffix)])
        return sorted(names)

    def append_history(self, stack: str, record: Mapping[str, Any]) -> None:
        key = self._key(stack, f".history/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json")
        body = json.dumps(dict(record), sort_keys=True).encode()
        self._call(
            "record history",
            key,
            lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=body),
        )

    def history_stacks(self) -> list[str]:
        """One listing (per page) of the ``<stack>.history/`` folders."""
        prefix = f"{self._base_key}/"
        names: list[str] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("CommonPrefixes", []):
                    name = item.get("Prefix", "")[len(prefix) :].removesuffix("/")
                    if name.endswith(".history") and is_stack_name(name[: -len(".history")]):
                        names.append(name[: -len(".history")])
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, "list", prefix) from exc
        return sorted(names)

    def history(self, stack: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for item in sorted(self._list(self._key(stack, ".history/")), key=lambda i: i["Key"]):
            got = self._get(item["Key"], "read history")
            if got is not None:
                records.append(json.loads(got.body))
        return records


def _parse_lock(body: bytes) -> LockInfo | None:
    try:
        return LockInfo.from_json(json.loads(body))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _dump(state: StackState, journal_id: str | None) -> bytes:
    """A document; ``journal_id`` names the journal that will follow it."""
    data = state.to_json()
    if journal_id is not None:
        data["journal_id"] = journal_id
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
