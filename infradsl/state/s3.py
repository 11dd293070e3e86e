"""The S3 backend: state documents in a bucket, guarded by conditional writes.

Layout under ``s3://<bucket>/<prefix>/<target>/``:

- ``<stack>.json``: the state document. Every write is a compare-and-swap on the ETag of
  the document this backend last read or wrote (``IfMatch``; ``IfNoneMatch="*"`` for the
  first), so a stale writer gets an error instead of overwriting newer state.
- ``<stack>.lock``: the lock, created with ``IfNoneMatch="*"``: exactly one run gets it.
  A lock whose holder ran on this host and is gone is taken over with ``IfMatch`` on the
  dead holder's object, so of two runs taking it over, one gets it.
- ``<stack>.versions/<serial>.json``: the last `MAX_VERSIONS` kept documents.
- ``<stack>.history/<time_ns>-<id>.json``: one object per deployment record.

A conditional write can succeed on the server and still fail for the client: its answer
was lost (a 500, a dropped connection), botocore retried it, and the retry failed its own
condition (412). Every conditional write therefore carries an id (in the state object's
metadata; the lock id in the lock), and a failed condition is checked against the object
now stored: when it is this write, the write succeeded.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
from botocore.exceptions import BotoCoreError, ClientError

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
from infradsl.state.model import StackState

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["ClientProvider", "S3Backend", "S3Clients"]

T = TypeVar("T")

# S3's answers to a failed condition: 412, or 409 when a concurrent conditional write won
# the race; NoSuchKey when ``IfMatch`` names an object that was deleted meanwhile.
_CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


@attrs.frozen
class _Object:
    """An object as read: body, ETag, metadata, and when it was written (epoch seconds)."""

    body: bytes
    etag: str
    metadata: Mapping[str, str]
    written: float


@attrs.frozen
class _Stored:
    """A state document as this backend last read or wrote it."""

    etag: str
    serial: int
    lineage: str
    body: bytes
    written: float


class S3Backend:
    """State in an S3 bucket; see the module docstring for the layout.

    Args:
        bucket: the bucket (it must exist; infradsl never creates it).
        prefix: the key prefix inside the bucket (may be empty).
        target: ``local`` or ``aws``: each target has its own states.
        clients: gives the S3 client; for the local target, one for the local cloud.
    """

    def __init__(self, bucket: str, prefix: str, target: str, clients: ClientProvider) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.target = target
        # Stacks whose starting document this instance kept as a version (once per run).
        self._versioned: set[str] = set()
        # Stacks whose current document this instance wrote last: kept as a version when
        # it releases its lock, so the newest good state survives damage to the object.
        self._final: set[str] = set()
        self.clients = clients
        self._base_key = "/".join(p for p in (self.prefix, target) if p)
        # stack -> the document last read or written by this instance (None: there was
        # none). Its ETag is the condition of the next write, and it stays stale after a
        # conflict, so a stale writer keeps failing until it reads the state again.
        self._known: dict[str, _Stored | None] = {}
        # stack -> {serial: sort time} of kept versions, listed once, then maintained.
        self._kept: dict[str, dict[int, float]] = {}

    @property
    def location(self) -> str:
        """Where the states are, for messages."""
        return f"s3://{self.bucket}/{self._base_key}"

    @property
    def _s3(self) -> S3Client:
        return cast("S3Client", self.clients.client("s3"))

    def _key(self, stack: str, suffix: str) -> str:
        return f"{self._base_key}/{check_stack_name(stack)}{suffix}"

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- documents ---------------------------------------------------------------------

    def read(self, stack: str) -> StackState | None:
        found = self._fetch(self._key(stack, ".json"), stack)
        self._known[stack] = found[1] if found else None
        return found[0] if found else None

    def _fetch(self, key: str, stack: str | None = None) -> tuple[StackState, _Stored] | None:
        """The document at ``key`` (raises `StateError` when it is corrupt); ``stack`` when
        it is that stack's current state (for the advice)."""
        got = self._get(key, "read state")
        if got is None:
            return None
        body, etag, written = got.body, got.etag, got.written
        try:
            state = StackState.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise corrupt(f"state object {self._url(key)}", exc, stack) from exc
        return state, _Stored(etag, state.serial, state.lineage, body, written)

    def write(self, state: StackState) -> None:
        base = self._base(state.stack)
        if base is not None:
            where = self._url(self._key(state.stack, ".json"))
            check_successor(base.serial, base.lineage, state, where)
        self._put_state(state, base)
        if base is not None:
            # Kept from our copy once the write succeeded: a refused write leaves no trace.
            self._keep_start(state.stack, base)

    def _base(self, stack: str) -> _Stored | None:
        if stack not in self._known:
            self.read(stack)
        return self._known[stack]

    def _put_state(self, state: StackState, base: _Stored | None) -> None:
        key = self._key(state.stack, ".json")
        body = _dump(state)
        written = time.time()
        write_id = uuid.uuid4().hex
        meta = {"written": repr(written), "write-id": write_id}
        try:
            if base is None:
                response = self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, Metadata=meta, IfNoneMatch="*"
                )
            else:
                response = self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, Metadata=meta, IfMatch=base.etag
                )
            etag = response["ETag"]
        except ClientError as exc:
            if _code(exc) in _CONFLICT or (base is not None and _code(exc) == "NoSuchKey"):
                # Our own write, when an attempt whose answer was lost did succeed.
                now = self._get(key, "read state")
                if now is None or now.metadata.get("write-id") != write_id:
                    raise self._conflict(state.stack, base) from None
                etag = now.etag
            else:
                raise self._failure(exc, "write state", key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "write state", key) from exc
        self._known[state.stack] = _Stored(etag, state.serial, state.lineage, body, written)
        self._final.add(state.stack)

    def _conflict(self, stack: str, base: _Stored | None) -> StateError:
        key = self._key(stack, ".json")
        found = self._fetch(key, stack)  # not remembered: this writer stays stale
        what = (
            f"another run wrote state serial {found[0].serial} (lineage {found[0].lineage}) "
            f"to {self._url(key)}"
            if found is not None
            else f"another run removed {self._url(key)}"
        )
        read = f"serial {base.serial}" if base is not None else "no state"
        return StateError(
            f"refusing to write state of {stack!r}: {what} since this run read {read}; "
            "nothing was written. Run again to start from the current state"
        )

    def restore(self, stack: str, state: StackState | None) -> None:
        base = self._base(stack)
        if state is not None:
            self._put_state(state, base)
        elif base is not None:
            key = self._key(stack, ".json")
            got = self._get(key, "read state")
            if got is None or got.etag != base.etag:
                raise self._conflict(stack, base)
            # The lock keeps others out between that check and the delete (conditional
            # deletes are not available on every S3 bucket).
            self._delete(key, "remove state")
            self._known[stack] = None
            self._final.discard(stack)
        if base is not None:
            self._keep_start(stack, base)

    # -- versions ----------------------------------------------------------------------

    def _versions_prefix(self, stack: str) -> str:
        return self._key(stack, ".versions/")

    def _keep_start(self, stack: str, base: _Stored) -> None:
        """Keep the document this run first replaced (from our copy, which is exactly what
        was replaced)."""
        # One version per run (per backend instance): a deploy writes state after every
        # operation, and ten kept versions should reach back ten runs, not ten calls.
        if stack not in self._versioned:
            self._versioned.add(stack)
            self._keep(stack, base)

    def _keep(self, stack: str, document: _Stored) -> None:
        """Keep ``document`` as a version and prune the oldest beyond `MAX_VERSIONS`."""
        prefix = self._versions_prefix(stack)
        kept = self._kept.get(stack)
        if kept is None:
            kept = {serial: when for serial, when, _ in self._list_versions(stack)}
            self._kept[stack] = kept
        key = f"{prefix}{document.serial}.json"
        self._call(
            "keep a state version",
            key,
            lambda: self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=document.body,
                Metadata={"written": repr(document.written)},
            ),
        )
        kept[document.serial] = time.time()
        order = sorted(kept, key=lambda s: (kept[s], s), reverse=True)
        for serial in order[MAX_VERSIONS:]:
            old = f"{prefix}{serial}.json"
            self._delete(old, "prune state versions")
            del kept[serial]

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
            written = _float(head.get("Metadata", {}).get("written"), replaced)
            result.append((serial, written))
        return result

    def read_version(self, stack: str, serial: int) -> StackState:
        found = self._fetch(f"{self._versions_prefix(stack)}{serial}.json")
        if found is None:
            raise missing_version(stack, serial, [s for s, _, _ in self._list_versions(stack)])
        return found[0]

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
            self._put_state(state, _Stored(got.etag, -1, "", got.body, got.written))
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
            if _code(exc) in _CONFLICT or _code(exc) == "NoSuchKey":
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
            if stack in self._final and known is not None:
                # The document this run ended with: the newest good state.
                self._keep(stack, known)
                self._final.discard(stack)
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

    # -- S3 calls ----------------------------------------------------------------------

    def _get(self, key: str, what: str) -> _Object | None:
        """The object at ``key``, or ``None`` when it does not exist."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure(exc, what, key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, what, key) from exc
        metadata = response.get("Metadata", {})
        written = _float(metadata.get("written"), 0.0)
        return _Object(
            body, response["ETag"], metadata, written or response["LastModified"].timestamp()
        )

    def _list(self, prefix: str, delimiter: str = "") -> list[dict[str, Any]]:
        """Objects under ``prefix`` with ``Key`` and ``LastModified`` (epoch seconds)."""
        found: list[dict[str, Any]] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter=delimiter
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        {"Key": item["Key"], "LastModified": item["LastModified"].timestamp()}
                    )
        except ClientError as exc:
            raise self._failure(exc, "list", prefix) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "list", prefix) from exc
        return found

    def _delete(self, key: str, what: str) -> None:
        self._call(
            what, key, functools.partial(self._s3.delete_object, Bucket=self.bucket, Key=key)
        )

    def _call(self, what: str, key: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ClientError as exc:
            raise self._failure(exc, what, key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, what, key) from exc

    def _failure(self, exc: Exception, what: str, key: str) -> StateError:
        if isinstance(exc, ClientError) and _code(exc) == "NoSuchBucket":
            endpoint = getattr(self.clients, "endpoint_url", None)
            command = (
                f"aws --endpoint-url {endpoint} s3 mb s3://{self.bucket}"
                if endpoint
                else f"aws s3 mb s3://{self.bucket}"
            )
            return StateError(
                f"the state bucket {self.bucket!r} does not exist"
                + (f" in the local cloud at {endpoint}" if endpoint else "")
                + f": create it with `{command}` (infradsl never creates its state bucket; "
                "on AWS, turn on versioning and block public access)"
            )
        return StateError(f"could not {what} at {self._url(key)}: {exc}")


def _parse_lock(body: bytes) -> LockInfo | None:
    try:
        return LockInfo.from_json(json.loads(body))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text else default
    except ValueError:
        return default


def _dump(state: StackState) -> bytes:
    return (json.dumps(state.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()
