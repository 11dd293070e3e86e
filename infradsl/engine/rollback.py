"""Rollback: undo a failed run's completed operations, computed from its journal.

Entries are undone in reverse: what was created is deleted, what was updated is put
back; replaced resources were never deleted, so they simply stay. A delete cannot be
undone: it is reported, and the next deploy creates the resource again. When everything
was undone, the state is restored exactly as the run found it.
"""

from __future__ import annotations

from infradsl.engine._calls import Calls, message
from infradsl.engine.journal import JournalEntry, Op
from infradsl.engine.recovery import discard
from infradsl.providers.handler import reporting_to
from infradsl.state.backend import StateError
from infradsl.state.model import ResourceState, StackState, StateKey

__all__ = ["roll_back"]


def roll_back(calls: Calls, original: StackState | None) -> list[str]:
    """Undo what the run did; return what is left behind, one line each, with how to
    finish (empty when the cloud and the state are as before the run).

    Args:
        calls: the run's handler calls (and through them its journal).
        original: the state the run started from.
    """
    journal = calls.journal
    leftovers: list[str] = []
    journal.rolling_back = True
    calls.emit("rollback-start", "", "rollback", "")
    _resolve_pending(calls)
    for entry in reversed(journal.entries):
        try:
            with reporting_to(calls.reporter(entry.path, f"undo {entry.op.value}", "")):
                _undo(calls, entry)
        except Exception as exc:
            res = entry.after or entry.before
            what = f"{entry.path} ({res.physical_id if res else '?'})"
            leftovers.append(f"{what}: undoing the {entry.op.value} failed: {message(exc)}")
            calls.emit(
                "rollback-failed",
                entry.path,
                f"undo {entry.op.value}",
                res.type if res else "",
                message(exc),
            )
    irreversible = [e for e in journal.entries if e.op is Op.DELETE]
    for entry in irreversible:
        assert entry.before is not None
        leftovers.append(
            f"{entry.path} ({entry.before.physical_id}) was deleted before the failure and "
            "cannot be restored; `infradsl deploy` creates it again"
        )
    for intent in journal.unresolved():
        leftovers.append(
            f"{intent['path']}: the outcome of its {intent['op']} is unknown (the cloud "
            "could not be asked); it stays in the state's journal and the next run looks "
            "it up by its token and adopts or forgets it"
        )
    if leftovers:
        journal.save()
    else:
        try:
            journal.backend.restore(journal.stack, original)
        except (StateError, OSError) as exc:
            journal.save_failures.append(message(exc))
    leftovers.extend(journal.leftovers())
    return leftovers


def _resolve_pending(calls: Calls) -> None:
    """Look up creates whose outcome is still unknown: what exists is tracked (and so
    undone by the rollback), what does not is forgotten; a failed lookup keeps it."""
    journal = calls.journal
    with journal.lock:
        creates = [dict(i) for i in journal.pending.values() if i["op"] == Op.CREATE.value]
    for intent in creates:
        path = str(intent["path"])
        ctx = calls.context(path, int(intent["attempt"]))
        try:
            found = calls.handler_for(intent["type"]).find(ctx, intent["props"])
        except Exception:
            continue
        if found is None:
            discard(calls.handler_for(intent["type"]), ctx, intent["props"])
            journal.settle(intent["id"])
            continue
        new = ResourceState(
            intent["type"],
            found.physical_id,
            intent["inputs"],
            intent["props"],
            dict(found.attributes),
            tuple(intent["depends_on"]),
            intent["options"],
            int(intent["attempt"]),
        )
        op = Op.REPLACE if intent.get("replace") else Op.CREATE
        journal.record(op, path, journal.resources.get(path), new, path, intent["id"])


def _undo(calls: Calls, entry: JournalEntry) -> None:
    journal = calls.journal
    if entry.op is Op.DELETE:
        return  # irreversible; reported by roll_back
    if entry.op is Op.FINISH:
        # The create it finished is undone next (it is earlier in the journal).
        with journal.lock:
            if entry.before is not None:
                journal.resources[entry.path] = entry.before
        return
    res = entry.after or entry.before
    assert res is not None
    verb = f"undo {entry.op.value}"
    calls.emit("rollback-start", entry.path, verb, res.type)
    if entry.op in (Op.CREATE, Op.REPLACE) and entry.after is not None:
        calls.delete(StateKey(entry.path), entry.after, rollback=True)
    elif (
        entry.op is Op.UPDATE
        and entry.before is not None
        and entry.after is not None
        and entry.after.properties != entry.before.properties
    ):
        before, after = entry.before, entry.after
        handler = calls.handler_for(before.type)
        ctx = calls.context(entry.path, before.attempt, rollback=True)
        calls.idempotent(
            lambda: handler.update(ctx, before.physical_id, after.properties, before.properties)
        )
    with journal.lock:
        journal.resources.pop(entry.path, None)
        if entry.op is Op.REPLACE:
            journal.retired.pop(entry.path, None)
        if entry.before is not None and entry.before_path is not None:
            journal.resources[entry.before_path] = entry.before
        journal.save_locked()
    calls.emit("rollback-done", entry.path, verb, res.type)
