"""The journal of one run: what it did, what it is about to do, and the state it writes.

A run tracks its resources here and records each completed operation as a
`JournalEntry` (rollback walks them in reverse). Before every mutating call an intent is
added to ``pending`` and written with the state; the result removes it in the same
write, so a run killed at any point leaves its unfinished calls in the state for the
next run's recovery (`infradsl.engine.recovery`).

Invariants:
- ``lock`` guards ``resources``, ``retired``, ``pending`` and ``entries``.
- State writes take ``_writing`` in turn and run without ``lock`` (see `save_locked`):
  serials only grow, and one write carries every change made before it.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from infradsl.state.backend import StateBackend, StateError
from infradsl.state.delta import ResourceMap, TrackedDict
from infradsl.state.model import OLD_SUFFIX, ResourceState, StackState, StateKey

__all__ = ["OLD_SUFFIX", "Journal", "JournalEntry", "Op"]


class Op(enum.Enum):
    """What a journaled operation did; the value is the word in intents and messages."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # the new half created; the old half is retired, deleted at cleanup
    DELETE = "delete"
    FORGET = "forget"  # dropped from state, left in the cloud
    FINISH = "finish"  # applied what a create left out (a group's rules naming others)


@attrs.frozen
class JournalEntry:
    """One completed operation.

    Attributes:
        op: what it did.
        path: the logical id it left ``after`` at.
        before: the resource before it (``None`` for a create).
        after: the resource after it (``None`` for a delete or forget).
        before_path: where ``before`` was tracked (differs from ``path`` after a rename).
    """

    op: Op
    path: str
    before: ResourceState | None
    after: ResourceState | None
    before_path: str | None = None


class Journal:
    """The resources one run tracks, its intents and entries, written to the state.

    Args:
        stack: the stack's name.
        region: its region.
        target: ``local`` or ``aws``.
        state: the state the run starts from.
        backend: where state is written.
        local_instance: the local cloud's instance id, recorded in state.
    """

    def __init__(
        self,
        stack: str,
        region: str,
        target: str,
        state: StackState | None,
        backend: StateBackend,
        local_instance: str | None = None,
    ) -> None:
        self.stack = stack
        self.region = region
        self.target = target
        self.backend = backend
        # Tracked: a state write journals only the entries changed since the last one.
        self.resources: TrackedDict[ResourceState] = TrackedDict(state.resources if state else {})
        # Old halves of replacements, by the path of their new half: tracked in state as
        # ``path#old`` until the cleanup deletes them.
        self.retired: TrackedDict[ResourceState] = TrackedDict()
        self.entries: list[JournalEntry] = []
        # The write-ahead journal on disk: intent id -> intent, saved with the state before
        # each mutating call and removed (in the same write as the result) after it.
        self.pending: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.outputs: Mapping[str, Any] = dict(state.outputs) if state else {}
        self.local_instance = (
            local_instance if local_instance else (state.local_instance if state else None)
        )
        # Fixed before the first call: generated names and idempotency tokens include it.
        self.lineage = state.lineage if state else uuid.uuid4().hex
        # Set by a rollback: from then on a failed state write is reported, not raised.
        self.rolling_back = False
        self.save_failures: list[str] = []
        self._serial = state.serial if state else 0
        # ``_changes`` counts changes (under ``lock``); ``_saved`` is the count the last
        # successful write contained, ``_saved_map`` its resources' token, ``_unsaved``
        # the keys changed since (these three under ``_writing``).
        self._writing = threading.Lock()
        self._changes = 0
        self._saved = 0
        self._saved_map: int | None = None
        self._unsaved: set[str] = set()
        self._snapshot: ResourceMap | None = None  # the resources of the last state written

    # -- intents and entries -----------------------------------------------------------

    def intend(self, intent: dict[str, Any]) -> str:
        """Durably record an intent before its mutating call; return its id."""
        intent_id = uuid.uuid4().hex[:12]
        with self.lock:
            self.pending[intent_id] = {**intent, "id": intent_id, "started": time.time()}
            self.save_locked()
        return intent_id

    def settle(self, intent: str | None) -> None:
        """Drop an intent whose call failed without effect."""
        if intent is None:
            return
        with self.lock:
            self.pending.pop(intent, None)
            self.save_locked()

    def record(
        self,
        op: Op,
        path: str,
        before: ResourceState | None,
        after: ResourceState | None,
        before_path: str,
        intent: str | None = None,
    ) -> None:
        """Record a completed operation, track its result and close its intent."""
        with self.lock:
            self.entries.append(JournalEntry(op, path, before, after, before_path))
            if intent is not None:
                self.pending.pop(intent, None)
            if before_path != path:
                self.resources.pop(before_path, None)
            if op is Op.REPLACE and before is not None:
                self.retired[path] = before
            if after is None:
                self.resources.pop(path, None)
            else:
                self.resources[path] = after
            self.save_locked()

    def record_delete(
        self, key: StateKey, res: ResourceState, intent: str, *, journaled: bool
    ) -> None:
        """Record that ``res``, tracked at ``key``, is gone.

        A delete done by a rollback is not ``journaled``: the rollback is walking the
        entries."""
        path = key.path
        with self.lock:
            self.pending.pop(intent, None)
            if journaled:
                self.entries.append(JournalEntry(Op.DELETE, path, res, None, path))
            if self.retired.get(path) is res:
                self.retired.pop(path)
            elif self.resources.get(str(key)) is res:
                self.resources.pop(str(key))
            self.save_locked()

    def operations(self) -> int:
        """Operations done, for the summary: applying deferred rules is part of a create."""
        return sum(1 for entry in self.entries if entry.op is not Op.FINISH)

    def unresolved(self) -> list[dict[str, Any]]:
        """The intents still open, by path."""
        with self.lock:
            return sorted(self.pending.values(), key=lambda i: str(i["path"]))

    def leftovers(self) -> list[str]:
        """What to tell the user when a state write failed (empty when none did)."""
        if not self.save_failures:
            return []
        return [
            f"state could not be written to {getattr(self.backend, 'location', 'the backend')} "
            f"({self.save_failures[0]}): the cloud changes above were made but the state on "
            "disk may be older. Fix the cause (free disk space, permissions) and run "
            "`infradsl deploy` again: it recovers from the journal and converges"
        ]

    # -- state writes --------------------------------------------------------------------

    def save(self) -> None:
        """Write the state with every change made so far."""
        with self.lock:
            self.save_locked()

    def save_locked(self) -> None:
        """Write the state with every change made so far. The caller holds ``lock`` (its
        change is the last step under it) and has it again once a write containing its
        change succeeded: an intent is durable before its call.

        ``lock`` is released meanwhile, so other operations go on. Writes take
        ``_writing`` in turn and each writes the newest state, so the callers queued
        behind a write mostly find their change written by the next one (group commit: one
        write, one S3 PUT, for all of them), and serials only grow.
        """
        self._changes += 1
        wanted = self._changes
        self.lock.release()
        try:
            with self._writing:
                if self._saved < wanted:
                    self._write_locked()
        except (StateError, OSError) as exc:
            if not self.rolling_back:
                raise
            # A rollback goes on when state cannot be written (a full disk): undoing the
            # cloud changes matters more; what could not be saved is reported.
            self.save_failures.append(message(exc))
        finally:
            self.lock.acquire()

    def _write_locked(self) -> None:
        """Write the newest state (the caller holds ``_writing``, not ``lock``)."""
        with self.lock:
            changes = self._changes
            self._serial += 1
            # Old halves of replacements stay tracked as `path#old` until deleted, so
            # nothing is ever lost; they win over a `path#old` left by a run that died.
            keys = self.resources.take_changed()
            keys |= {str(StateKey(path, old=True)) for path in self.retired.take_changed()}
            self._unsaved |= keys
            if self._snapshot is None:
                entries = dict(self.resources)
                entries.update(
                    (str(StateKey(path, old=True)), old) for path, old in self.retired.items()
                )
                resources = ResourceMap(entries, base=self._saved_map, changed=self._unsaved)
            else:
                # The previous snapshot plus what changed since: costs the changes only.
                update: dict[str, ResourceState | None] = {}
                for key in keys:
                    parsed = StateKey.parse(key)
                    old = self.retired.get(parsed.path) if parsed.old else None
                    update[key] = old if old is not None else self.resources.get(key)
                resources = self._snapshot.updated(
                    update, base=self._saved_map, changed=self._unsaved
                )
            # Knows what changed since the last write, so the backend journals only that.
            self._snapshot = resources
            state = StackState(
                stack=self.stack,
                target=self.target,
                region=self.region,
                serial=self._serial,
                resources=resources,
                outputs=self.outputs,
                local_instance=self.local_instance,
                lineage=self.lineage,
                pending=tuple(self.pending.values()),
            )
        self.backend.write(state)
        self._saved, self._saved_map, self._unsaved = changes, resources.token, set()


def message(exc: BaseException) -> str:
    """The first line of an error's message (its class name when it has none)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
