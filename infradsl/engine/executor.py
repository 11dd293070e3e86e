"""The executor: applies a plan through the handlers, keeps state, and rolls back.

Invariants:
- Only this module calls the mutating handler methods.
- State is written after every completed operation, so a crash loses at most the call in
  flight. ``_lock`` guards ``resources``, ``journal`` and ``pending``; ``_writing`` orders
  the state writes, which run without ``_lock`` (see `Executor._save_locked`).
- The journal records what actually happened; rollback is computed from it, in reverse.
"""

from __future__ import annotations

import enum
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from itertools import chain, repeat
from typing import Any, TypeVar

import attrs

from infradsl.engine.events import Event, Listener
from infradsl.engine.recovery import RECOVERED
from infradsl.engine.walker import walk
from infradsl.errors import InfraDslError
from infradsl.plan.change import Action, Plan, ResourceChange
from infradsl.plan.compare import renamed_references
from infradsl.plan.values import resolve, resolve_outputs, state_lookup
from infradsl.providers.handler import (
    ClientProvider,
    HandlerContext,
    OutcomeUnknownError,
    ResourceHandler,
    notify,
    reporting_to,
)
from infradsl.state.backend import StateBackend, StateError
from infradsl.state.delta import ResourceMap, TrackedDict
from infradsl.state.model import ResourceState, StackState

__all__ = ["MAX_ATTEMPTS", "DeployResult", "Executor", "Status", "UnresolvedError"]

HandlerFor = Callable[[str], ResourceHandler]
Hold = Callable[[str, ResourceState], bool]
"""``(state key, resource) -> True`` to keep a doomed resource for now (another stack
still uses it); the key is a logical id, or ``path#old`` for the old half of a replacement."""

_DEFERRED = "#deferred"  # the walk node that applies what a create had to leave out
_FINISH = "finish"  # its journal record
_T = TypeVar("_T")

MAX_ATTEMPTS = 4
"""Tries of one operation whose calls fail without a known outcome (5xx, timeouts)."""


class UnresolvedError(InfraDslError):
    """A create failed and the lookup that would tell whether it took effect failed too:
    its intent stays in the state's journal for the next run's recovery."""


class Status(enum.Enum):
    """How a deploy ended; `infradsl.cli` maps each to its exit code (0, 3 or 4)."""

    OK = 0
    ROLLED_BACK = 3
    ROLLBACK_INCOMPLETE = 4
    FAILED_NO_ROLLBACK = 6  # exits 4 as well: what succeeded is kept and tracked
    CLEANUP_FAILED = 7  # exits 4 as well: all was deployed; old resources stay tracked
    INTERRUPTED = 130


@attrs.frozen
class DeployResult:
    """What a deploy did.

    Attributes:
        status: how it ended.
        errors: ``(path, message)`` of the failures.
        leftovers: what a failed rollback left behind, one line each, with how to finish.
        outputs: the stack's outputs (after a successful deploy).
        operations: how many operations ran.
        kept: resources whose delete was held back because other stacks still use them,
            one line each, with how to finish.
    """

    status: Status
    errors: tuple[tuple[str, str], ...] = ()
    leftovers: tuple[str, ...] = ()
    outputs: Mapping[str, Any] = attrs.Factory(dict)
    operations: int = 0
    kept: tuple[str, ...] = ()


@attrs.frozen
class _Entry:
    """One journal record: an operation that completed."""

    op: str  # create | update | replace | delete | forget
    path: str
    before: ResourceState | None
    after: ResourceState | None
    before_path: str | None = None


class Executor:
    """Runs one stack's plan.

    Args:
        plan: the plan to apply.
        document: the desired document (``None`` when destroying).
        state: the state the plan was made from (restored exactly after a full rollback).
        backend: where state is written.
        clients: boto3 clients for the stack's region.
        handler_for: the handler registry.
        target: ``local`` or ``aws``.
        other_states: states of other stacks this one reads from.
        listener: receives progress events.
        local_instance: the local cloud's instance id, recorded in state.
    """

    def __init__(
        self,
        plan: Plan,
        document: Mapping[str, Any] | None,
        state: StackState | None,
        backend: StateBackend,
        clients: ClientProvider,
        handler_for: HandlerFor,
        *,
        target: str,
        other_states: Mapping[str, StackState] | None = None,
        listener: Listener | None = None,
        local_instance: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.plan = plan
        self.document = document
        self.original = state
        self.backend = backend
        self.clients = clients
        self.handler_for = handler_for
        self.target = target
        self.other_states = dict(other_states or {})
        self.listener = listener or (lambda event: None)
        self.stop = stop
        self.stack = plan.stack
        self.region = plan.region
        # Tracked: a state write journals only the entries changed since the last one.
        self.resources: TrackedDict[ResourceState] = TrackedDict(state.resources if state else {})
        self.retired: TrackedDict[ResourceState] = TrackedDict()
        # Doomed resources whose delete waits until the stacks that use them are deployed
        # (see `finish_held`); they stay tracked in state meanwhile.
        self.held: dict[str, ResourceState] = {}
        self._hold: Hold | None = None
        # Reads ``resources`` as it grows: a single dict lookup needs no lock.
        self._lookup = state_lookup(self.stack, self.resources, self.other_states)
        self.journal: list[_Entry] = []
        # The write-ahead journal on disk: intent id -> intent, saved with the state before
        # each mutating call and removed (in the same write as the result) after it.
        self.pending: dict[str, dict[str, Any]] = {}
        # path -> the properties its create leaves to a ``#deferred`` node (`_schedule`).
        self._late: dict[str, set[str]] = {}
        # path -> type of the creates whose readiness `_settle` awaits in one batched call.
        self._settling: dict[str, str] = {}
        self._lock = threading.Lock()
        # State writes, one at a time and in order (taken without ``_lock``): see
        # `_save_locked`. ``_changes`` counts changes (under ``_lock``); ``_saved`` is the
        # count the last successful write contained, ``_saved_map`` its resources' token,
        # ``_unsaved`` the keys changed since (these three under ``_writing``).
        self._writing = threading.Lock()
        self._changes = 0
        self._saved = 0
        self._saved_map: int | None = None
        self._unsaved: set[str] = set()
        self._snapshot: ResourceMap | None = None  # the resources of the last state written
        self._rolling_back = False
        self._save_failures: list[str] = []
        self._serial = state.serial if state else 0
        # Fixed before the first call: generated names and idempotency tokens include it.
        self._lineage = state.lineage if state else uuid.uuid4().hex
        self._outputs: Mapping[str, Any] = dict(state.outputs) if state else {}
        self._local_instance = (
            local_instance if local_instance else (state.local_instance if state else None)
        )

    # -- running ---------------------------------------------------------------------

    def run(
        self, *, concurrency: int = 10, rollback: bool = True, hold: Hold | None = None
    ) -> DeployResult:
        """Apply the plan; on the first failure roll back (unless ``rollback`` is False).

        Args:
            concurrency: operations in flight at once.
            rollback: undo what was done on the first failure.
            hold: says which doomed resources other stacks still use: their deletes (and
                the deletes of what they depend on) are held back in `held`, tracked in
                state, for `finish_held` once those stacks are deployed.
        """
        self._hold = hold
        changes = {c.path: c for c in self.plan.changes}
        main = {
            p: c
            for p, c in changes.items()
            if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)
        }
        desired = self.document["resources"] if self.document else {}
        deps = self._schedule(main, desired)
        result = walk(deps, self._run_node(main), concurrency=concurrency, stop=self.stop)
        errors = [
            (p.removesuffix(_DEFERRED), _message(e)) for p, e in sorted(result.errors.items())
        ]
        finished = result.ok
        if result.ok:
            errors.extend(self._await_ready())
        if result.ok and not errors:
            cleanup_errors, finished = self._cleanup(changes, concurrency)
            errors.extend(cleanup_errors)
        if not errors:
            if not finished:
                return self._interrupted()
            return self._finished(Status.ROLLBACK_INCOMPLETE)
        if not rollback:
            self._rolling_back = True  # saving is best effort from here on
            self._save()
            leftovers = [
                f"{i['path']}: the outcome of its {i['op']} is unknown; the next run resolves it"
                for i in sorted(self.pending.values(), key=lambda i: str(i["path"]))
            ]
            return DeployResult(
                Status.FAILED_NO_ROLLBACK,
                tuple(errors),
                tuple(leftovers + self._state_leftovers()),
                operations=self._operations(),
            )
        leftovers = self._rollback()
        if leftovers:
            return DeployResult(
                Status.ROLLBACK_INCOMPLETE,
                tuple(errors),
                tuple(leftovers),
                operations=self._operations(),
            )
        return DeployResult(Status.ROLLED_BACK, tuple(errors), operations=self._operations())

    def _schedule(
        self, main: Mapping[str, ResourceChange], desired: Mapping[str, Any]
    ) -> dict[str, set[str]]:
        """The walk's graph: each change waits for the changes it depends on.

        A deferred dependency (a group named only in another group's rules) does not hold
        back a create: when it is created in this run too, the create goes ahead without
        those elements, and a ``path#deferred`` node applies them once both exist. So a
        group never waits for another group's rules, and groups may admit each other.
        """
        fresh = {p for p, c in main.items() if c.action in (Action.CREATE, Action.REPLACE)}
        deps: dict[str, set[str]] = {}
        for path in main:
            entry = desired[path]
            deferred = set(entry.get("deferred", ()))
            deps[path] = (set(entry["depends_on"]) - deferred) & set(main)
        awaited = {d for ds in deps.values() for d in ds}
        for path, change in main.items():
            entry = desired[path]
            late = set(entry.get("deferred", ())) & fresh
            handler = self.handler_for(change.type)
            deferrable = [
                p for p in getattr(handler, "deferrable", ()) if entry["properties"].get(p)
            ]
            if path in fresh and deferrable and (late or path in awaited):
                # What waits for this create needs only its id: the deferrable properties
                # (a group's rules) are applied by a node of their own.
                self._late[path] = set(deferrable)
                deps[path + _DEFERRED] = {path} | late
            else:
                deps[path] |= late
            if path in fresh and path not in awaited and hasattr(handler, "settle"):
                # Nothing in the run waits for it: its readiness is awaited in one batched
                # call with the others' (`_await_ready`), not by a worker per resource.
                self._settling[path] = change.type
        return deps

    def _await_ready(self) -> list[tuple[str, str]]:
        """Wait, one batched call per type, until the resources created without waiting
        are ready, and record their final attributes. Returns the failures."""
        by_type: dict[str, dict[str, str]] = {}
        with self._lock:
            for path, type_name in self._settling.items():
                res = self.resources.get(path)
                if res is not None:
                    by_type.setdefault(type_name, {})[res.physical_id] = path
        errors: list[tuple[str, str]] = []
        for type_name, ids in sorted(by_type.items()):
            handler: Any = self.handler_for(type_name)
            ctx = self._context("", 0)
            started = time.monotonic()
            try:
                with reporting_to(self._reporter("", "settle", type_name)):
                    ready = handler.settle(ctx, sorted(ids))
            except Exception as exc:
                errors.extend((path, _message(exc)) for path in sorted(ids.values()))
                continue
            with self._lock:
                for physical_id, attributes in ready.items():
                    path = ids[physical_id]
                    res = self.resources[path]
                    options = {k: v for k, v in res.options.items() if k != RECOVERED}
                    self.resources[path] = attrs.evolve(
                        res, attributes={**res.attributes, **attributes}, options=options
                    )
                self._save_locked()
            self._emit(
                "note",
                "",
                "settle",
                type_name,
                f"{len(ids)} ready ({time.monotonic() - started:.1f}s)",
            )
        return errors

    def _run_node(self, main: Mapping[str, ResourceChange]) -> Callable[[str], None]:
        def run(node: str) -> None:
            if node.endswith(_DEFERRED):
                self._apply_deferred(main[node.removesuffix(_DEFERRED)])
            else:
                self._apply(main[node])

        return run

    def _apply_deferred(self, change: ResourceChange) -> None:
        """Apply the elements a create left out (rules naming groups created in this run)."""
        assert self.document is not None
        entry = self.document["resources"][change.path]
        handler = self.handler_for(change.type)
        with self._lock:
            created = self.resources[change.path]
        props = resolve(entry["properties"], self._lookup)
        ctx = self._context(change.path, created.attempt, fresh=True)
        intent = self._intend(
            {
                "op": "update",
                "path": change.path,
                "type": change.type,
                "physical_id": created.physical_id,
            }
        )
        try:
            with reporting_to(self._reporter(change.path, change.action.verb, change.type)):
                # Only the first try knows what is live: a try after a lost answer
                # converges against what it reads.
                contexts = chain([ctx], repeat(attrs.evolve(ctx, fresh=False)))
                updated = self._idempotent(
                    lambda: handler.update(
                        next(contexts), created.physical_id, created.properties, props
                    )
                )
        except BaseException as exc:
            self._settle(intent)
            self._emit("failed", change.path, "apply rules of", change.type, _message(exc))
            raise
        new = attrs.evolve(
            created,
            inputs=entry["properties"],
            properties=props,
            attributes={**created.attributes, **updated.attributes},
        )
        # Undone by undoing the create (or replace) journaled before it.
        self._record(_FINISH, change.path, created, new, change.path, intent)

    def _operations(self) -> int:
        """Operations done, for the summary: applying deferred rules is part of a create."""
        return sum(1 for entry in self.journal if entry.op != _FINISH)

    def _interrupted(self) -> DeployResult:
        self._save()
        return DeployResult(
            Status.INTERRUPTED, (("", "interrupted"),), operations=self._operations()
        )

    def _context(
        self,
        path: str,
        attempt: int,
        *,
        rollback: bool = False,
        fresh: bool = False,
        settle_later: bool = False,
    ) -> HandlerContext:
        return HandlerContext(
            stack=self.stack,
            path=path,
            region=self.region,
            clients=self.clients,
            rollback=rollback,
            attempt=attempt,
            lineage=self._lineage,
            fresh=fresh,
            settle_later=settle_later,
        )

    def _emit(
        self,
        kind: str,
        change_path: str,
        verb: str,
        type_name: str,
        detail: str = "",
        seconds: float = 0.0,
    ) -> None:
        self.listener(Event(kind, self.stack, change_path, verb, type_name, detail, seconds))

    def _apply(self, change: ResourceChange) -> None:
        assert self.document is not None
        entry = self.document["resources"][change.path]
        verb = change.action.verb
        self._emit("start", change.path, verb, change.type)
        started = time.monotonic()
        try:
            with reporting_to(self._reporter(change.path, verb, change.type)):
                detail = self._apply_change(change, entry)
        except BaseException as exc:
            self._emit(
                "failed", change.path, verb, change.type, _message(exc), time.monotonic() - started
            )
            raise
        self._emit("done", change.path, verb, change.type, detail, time.monotonic() - started)

    def _reporter(self, path: str, verb: str, type_name: str) -> Callable[[str], None]:
        """Where the clients' retry messages for one operation go: the progress view."""
        return lambda message: self._emit("note", path, verb, type_name, message)

    def _apply_change(self, change: ResourceChange, entry: Mapping[str, Any]) -> str:
        handler = self.handler_for(change.type)
        old_path = change.previous_path or change.path
        with self._lock:
            old = self.resources.get(old_path)
        late = self._late.get(change.path)
        if late and change.action is not Action.UPDATE:
            # Created without its deferrable properties; `_apply_deferred` applies them.
            properties = {k: v for k, v in entry["properties"].items() if k not in late}
            entry = {**entry, "properties": properties}
        props = resolve(entry["properties"], self._lookup)
        spec = _Spec(
            change.type,
            entry["properties"],
            props,
            tuple(entry["depends_on"]),
            entry.get("options", {}),
        )
        if change.action is Action.CREATE:
            attempt = old.attempt + 1 if old is not None else 0
            new, intent = self._create(handler, change.path, attempt, spec, replace=False)
            self._record("create", change.path, old, new, old_path, intent)
            return new.physical_id
        assert old is not None
        if change.action is Action.UPDATE:
            attributes: Mapping[str, Any] = old.attributes
            update_intent: str | None = None
            finishing = bool(old.options.get("recovered"))
            live_tags = _live_tags(change)
            if (
                props != old.properties
                or finishing
                or live_tags is not None
                or any(d.drift for d in change.diffs)
            ):
                update_intent = self._intend(
                    {
                        "op": "update",
                        "path": change.path,
                        "type": change.type,
                        "physical_id": old.physical_id,
                    }
                )
                ctx = attrs.evolve(self._context(change.path, old.attempt), live_tags=live_tags)
                before = {} if finishing else old.properties
                try:
                    updated = self._idempotent(
                        lambda: handler.update(ctx, old.physical_id, before, props)
                    )
                except BaseException:
                    self._settle(update_intent)
                    raise
                attributes = {**old.attributes, **updated.attributes}
            new = attrs.evolve(
                old,
                inputs=spec.inputs,
                properties=props,
                attributes=dict(attributes),
                depends_on=spec.depends_on,
                options=spec.options,
                type=change.type,
            )
            self._record("update", change.path, old, new, old_path, update_intent)
            return old.physical_id
        # REPLACE
        attempt = old.attempt + 1
        if spec.options.get("delete_before_replace"):
            self._delete_resource(old_path, old)
            new, intent = self._create(handler, change.path, attempt, spec, replace=False)
            self._record("create", change.path, None, new, change.path, intent)
            return new.physical_id
        new, intent = self._create(handler, change.path, attempt, spec, replace=True)
        self._record("replace", change.path, old, new, old_path, intent)
        return new.physical_id

    def _create(
        self, handler: ResourceHandler, path: str, attempt: int, spec: _Spec, *, replace: bool
    ) -> tuple[ResourceState, str]:
        """Create with a journaled intent; returns the new state and the open intent id.

        The intent leaves the journal only once the outcome is known. When the create
        fails, the resource is looked up by its token tag: found, it is tracked (and, when
        only the answer was lost, finished); absent after an error that leaves the outcome
        open, the create is tried again; if the lookup fails too, the intent stays pending
        for the next run's recovery.
        """
        ctx = self._context(path, attempt, settle_later=path in self._settling)
        intent = self._intend(
            {
                "op": "create",
                "path": path,
                "type": spec.type,
                "attempt": attempt,
                "inputs": dict(spec.inputs),
                "props": spec.props,
                "depends_on": list(spec.depends_on),
                "options": dict(spec.options),
                "replace": replace,
            }
        )
        op = "replace" if replace else "create"
        tries = 0
        while True:
            tries += 1
            try:
                created = handler.create(ctx, spec.props)
                new = spec.state(created.physical_id, created.attributes, attempt)
                if ctx.settle_later:
                    # Not ready yet: should this run die before `_await_ready`, the next
                    # plan finishes it with an update, which reads its final attributes.
                    new = attrs.evolve(new, options={**new.options, RECOVERED: True})
                return new, intent
            except BaseException as exc:
                try:
                    found = handler.find(ctx, spec.props)
                except Exception as lookup:
                    raise UnresolvedError(
                        f"{_message(exc)}; looking the resource up by its token failed too "
                        f"({_message(lookup)}), so whether it exists is unknown: the intent "
                        "stays in the state's journal and the next run resolves it"
                    ) from exc
                if found is not None:
                    new = spec.state(found.physical_id, found.attributes, attempt)
                    if not isinstance(exc, OutcomeUnknownError):
                        # A definite failure after the resource existed: track it, so the
                        # rollback removes it.
                        self._record(op, path, self.resources.get(path), new, path, intent)
                        raise
                    notify(
                        f"{exc.operation} took effect although its answer was lost: found "
                        f"{found.physical_id} by its token; finishing the create"
                    )
                    return self._finish_found(handler, ctx, spec, new, op, intent), intent
                if (
                    not isinstance(exc, OutcomeUnknownError)
                    or tries >= MAX_ATTEMPTS
                    or self._stopping()
                ):
                    self._settle(intent)
                    raise
                delay = _backoff(tries)
                notify(
                    f"{_message(exc)}; no resource carries this create's token, so it did "
                    f"not take effect: trying again in {delay:.1f}s"
                )
                time.sleep(delay)

    def _finish_found(
        self,
        handler: ResourceHandler,
        ctx: HandlerContext,
        spec: _Spec,
        new: ResourceState,
        op: str,
        intent: str,
    ) -> ResourceState:
        """Finish a create whose answer was lost: it may have stopped between its calls (a
        group without its rules), so it is converged with an update against what is live."""
        try:
            updated = self._idempotent(lambda: handler.update(ctx, new.physical_id, {}, spec.props))
        except BaseException:
            self._record(op, ctx.path, self.resources.get(ctx.path), new, ctx.path, intent)
            raise
        return attrs.evolve(new, attributes={**new.attributes, **updated.attributes})

    def _idempotent(self, call: Callable[[], _T]) -> _T:
        """Run an idempotent handler call (update, delete), trying again while its outcome
        is unknown (a 5xx, a timeout, a dropped connection): running it again is safe."""
        tries = 0
        while True:
            tries += 1
            try:
                return call()
            except OutcomeUnknownError as exc:
                if tries >= MAX_ATTEMPTS or self._stopping():
                    raise
                delay = _backoff(tries)
                notify(f"{_message(exc)}; trying again in {delay:.1f}s (safe to repeat)")
                time.sleep(delay)

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _intend(self, intent: dict[str, Any]) -> str:
        """Durably record an intent before its mutating call; return its id."""
        intent_id = uuid.uuid4().hex[:12]
        with self._lock:
            self.pending[intent_id] = {**intent, "id": intent_id, "started": time.time()}
            self._save_locked()
        return intent_id

    def _settle(self, intent: str | None) -> None:
        """Drop an intent whose call failed without effect."""
        if intent is None:
            return
        with self._lock:
            self.pending.pop(intent, None)
            self._save_locked()

    def _record(
        self,
        op: str,
        path: str,
        before: ResourceState | None,
        after: ResourceState | None,
        before_path: str,
        intent: str | None = None,
    ) -> None:
        with self._lock:
            self.journal.append(_Entry(op, path, before, after, before_path))
            if intent is not None:
                self.pending.pop(intent, None)
            if before_path != path:
                self.resources.pop(before_path, None)
            if op == "replace" and before is not None:
                self.retired[path] = before
            if after is None:
                self.resources.pop(path, None)
            else:
                self.resources[path] = after
            self._save_locked()

    def _delete_resource(self, key: str, res: ResourceState, *, rollback: bool = False) -> None:
        """Delete with a journaled intent (``key`` is a logical id, or ``path#old``).

        A delete done by a rollback is not added to the run's journal, which the rollback
        is walking."""
        path = key.removesuffix("#old")
        intent = self._intend(
            {"op": "delete", "path": key, "type": res.type, "physical_id": res.physical_id}
        )
        handler = self.handler_for(res.type)
        ctx = self._context(path, res.attempt, rollback=rollback)
        try:
            self._idempotent(lambda: handler.delete(ctx, res.physical_id, res.properties))
        except OutcomeUnknownError:
            # Whether it is gone is unknown: the intent stays, the next run reads it back.
            raise
        except BaseException:
            self._settle(intent)
            raise
        with self._lock:
            self.pending.pop(intent, None)
            if not rollback:
                self.journal.append(_Entry("delete", path, res, None, path))
            if self.retired.get(path) is res:
                self.retired.pop(path)
            elif self.resources.get(key) is res:
                self.resources.pop(key)
            self._save_locked()

    # -- cleanup: deletes in reverse dependency order ----------------------------------

    def _cleanup(
        self, changes: Mapping[str, ResourceChange], concurrency: int
    ) -> tuple[list[tuple[str, str]], bool]:
        """Forget and delete what the plan removes, and the old halves of replacements.

        Returns the errors, and whether every delete ran (not when a stop came first)."""
        doomed: dict[str, ResourceState] = {}
        for path, change in changes.items():
            if change.action is Action.FORGET:
                with self._lock:
                    before = self.resources.get(path)
                self._record("forget", path, before, None, path)
                self._emit("done", path, "forget", change.type, "left in the cloud")
            elif change.action is Action.DELETE:
                doomed[path] = self.resources[path]
        with self._lock:
            for path, old in self.retired.items():
                doomed[f"{path}#old"] = old
        doomed.update(self.held)  # what an earlier pass held back
        self.held = self._hold_back(doomed)
        if not doomed:
            return [], True
        by_path = {k.removesuffix("#old"): k for k in doomed}
        # X waits for every doomed resource that depended on X.
        deps: dict[str, set[str]] = {k: set() for k in doomed}
        for key, res in doomed.items():
            for dep in res.depends_on:
                target = by_path.get(dep)
                if target is not None and target != key:
                    deps[target].add(key)
        _break_cycles(deps)
        result = walk(
            deps, lambda k: self._delete(k, doomed[k]), concurrency=concurrency, stop=self.stop
        )
        errors = [(k.removesuffix("#old"), _message(e)) for k, e in sorted(result.errors.items())]
        return errors, result.ok

    def _hold_back(self, doomed: dict[str, ResourceState]) -> dict[str, ResourceState]:
        """Take out of ``doomed`` what `hold` says other stacks still use, and what those
        depend on (it can only be deleted after them)."""
        if self._hold is None:
            return {}
        held = {key for key, res in doomed.items() if self._hold(key, res)}
        by_path = {key.removesuffix("#old"): key for key in doomed}
        todo = list(held)
        while todo:
            for dep in doomed[todo.pop()].depends_on:
                key = by_path.get(dep)
                if key is not None and key not in held:
                    held.add(key)
                    todo.append(key)
        return {key: doomed.pop(key) for key in sorted(held)}

    def finish_held(self, *, concurrency: int = 10, hold: Hold | None = None) -> DeployResult:
        """Delete what `run` held back, now that the stacks that used it are deployed.

        What ``hold`` says is still used stays held (and tracked in state). Nothing is
        rolled back when a delete fails: the new resources are in use by then; what could
        not be deleted stays tracked, and the next deploy deletes it.

        Returns:
            the result of the whole run (`operations` counts both passes).
        """
        self._hold = hold
        errors, finished = self._cleanup({}, concurrency)
        if errors:
            self._save()
            return DeployResult(
                Status.CLEANUP_FAILED,
                tuple(errors),
                tuple(self._state_leftovers()),
                outputs=self._outputs,
                operations=self._operations(),
            )
        if not finished:
            return self._interrupted()
        return self._finished(Status.CLEANUP_FAILED)

    def _finished(self, unsaved: Status) -> DeployResult:
        """Save the final state; `Status.OK`, or ``unsaved`` when that save failed."""
        try:
            self._finish()
        except (StateError, OSError) as exc:
            self._save_failures.append(_message(exc))
            return DeployResult(
                unsaved,
                (("", f"saving the final state failed: {_message(exc)}"),),
                tuple(self._state_leftovers()),
                operations=self._operations(),
            )
        return DeployResult(Status.OK, outputs=self._outputs, operations=self._operations())

    def _delete(self, key: str, res: ResourceState) -> None:
        path = key.removesuffix("#old")
        verb = "delete old" if key.endswith("#old") else "delete"
        self._emit("start", path, verb, res.type, res.physical_id)
        started = time.monotonic()
        try:
            with reporting_to(self._reporter(path, verb, res.type)):
                self._delete_resource(key, res)
        except BaseException as exc:
            self._emit("failed", path, verb, res.type, _message(exc), time.monotonic() - started)
            raise
        self._emit("done", path, verb, res.type, res.physical_id, time.monotonic() - started)

    # -- rollback ----------------------------------------------------------------------

    def _rollback(self) -> list[str]:
        leftovers: list[str] = []
        self._rolling_back = True
        self._emit("rollback-start", "", "rollback", "")
        self._resolve_pending()
        for entry in reversed(self.journal):
            try:
                with reporting_to(self._reporter(entry.path, f"undo {entry.op}", "")):
                    self._undo(entry)
            except Exception as exc:
                res = entry.after or entry.before
                what = f"{entry.path} ({res.physical_id if res else '?'})"
                leftovers.append(f"{what}: undoing the {entry.op} failed: {_message(exc)}")
                self._emit(
                    "rollback-failed",
                    entry.path,
                    f"undo {entry.op}",
                    res.type if res else "",
                    _message(exc),
                )
        irreversible = [e for e in self.journal if e.op == "delete"]
        for entry in irreversible:
            assert entry.before is not None
            leftovers.append(
                f"{entry.path} ({entry.before.physical_id}) was deleted before the failure and "
                "cannot be restored; `infradsl deploy` creates it again"
            )
        with self._lock:
            unresolved = sorted(self.pending.values(), key=lambda i: str(i["path"]))
        for intent in unresolved:
            leftovers.append(
                f"{intent['path']}: the outcome of its {intent['op']} is unknown (the cloud "
                "could not be asked); it stays in the state's journal and the next run looks "
                "it up by its token and adopts or forgets it"
            )
        if leftovers:
            self._save()
        else:
            try:
                self.backend.restore(self.stack, self.original)
            except (StateError, OSError) as exc:
                self._save_failures.append(_message(exc))
        leftovers.extend(self._state_leftovers())
        return leftovers

    def _resolve_pending(self) -> None:
        """Look up creates whose outcome is still unknown: what exists is tracked (and so
        undone by the rollback), what does not is forgotten; a failed lookup keeps it."""
        with self._lock:
            creates = [dict(i) for i in self.pending.values() if i["op"] == "create"]
        for intent in creates:
            path = str(intent["path"])
            ctx = self._context(path, int(intent["attempt"]))
            try:
                found = self.handler_for(intent["type"]).find(ctx, intent["props"])
            except Exception:
                continue
            if found is None:
                self._settle(intent["id"])
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
            op = "replace" if intent.get("replace") else "create"
            self._record(op, path, self.resources.get(path), new, path, intent["id"])

    def _state_leftovers(self) -> list[str]:
        if not self._save_failures:
            return []
        return [
            f"state could not be written to {getattr(self.backend, 'location', 'the backend')} "
            f"({self._save_failures[0]}): the cloud changes above were made but the state on "
            "disk may be older. Fix the cause (free disk space, permissions) and run "
            "`infradsl deploy` again: it recovers from the journal and converges"
        ]

    def _undo(self, entry: _Entry) -> None:
        if entry.op == "delete":
            return  # irreversible; reported by _rollback
        if entry.op == _FINISH:
            # The create it finished is undone next (it is earlier in the journal).
            with self._lock:
                if entry.before is not None:
                    self.resources[entry.path] = entry.before
            return
        res = entry.after or entry.before
        assert res is not None
        self._emit("rollback-start", entry.path, f"undo {entry.op}", res.type)
        if entry.op in ("create", "replace") and entry.after is not None:
            self._delete_resource(entry.path, entry.after, rollback=True)
        elif (
            entry.op == "update"
            and entry.before is not None
            and entry.after is not None
            and entry.after.properties != entry.before.properties
        ):
            before, after = entry.before, entry.after
            handler = self.handler_for(before.type)
            ctx = self._context(entry.path, before.attempt, rollback=True)
            self._idempotent(
                lambda: handler.update(ctx, before.physical_id, after.properties, before.properties)
            )
        with self._lock:
            self.resources.pop(entry.path, None)
            if entry.op == "replace":
                self.retired.pop(entry.path, None)
            if entry.before is not None and entry.before_path is not None:
                self.resources[entry.before_path] = entry.before
            self._save_locked()
        self._emit("rollback-done", entry.path, f"undo {entry.op}", res.type)

    # -- state -------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.document is not None:
            self._outputs = resolve_outputs(self.document["outputs"], self._lookup)
            # Options and dependencies of unchanged resources follow the document too, and
            # so do their references to resources renamed through an alias.
            moved = {c.previous_path: c.path for c in self.plan.changes if c.previous_path}
            with self._lock:
                for path, entry in self.document["resources"].items():
                    res = self.resources.get(path)
                    if res is not None:
                        self.resources[path] = attrs.evolve(
                            res,
                            inputs=renamed_references(dict(res.inputs), moved),
                            options=entry.get("options", {}),
                            depends_on=tuple(entry["depends_on"]),
                        )
        else:
            self._outputs = {}
            with self._lock:
                empty = not self.resources and not self.retired
            if empty:
                # A destroyed stack has no state: deploying it again starts a new lineage,
                # so its generated names cannot collide with names still reserved by AWS
                # (a deleted secret stays reserved for its recovery window).
                self.backend.restore(self.stack, None)
                return
        self._save()

    def _save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        """Write the state with every change made so far. The caller holds ``_lock`` (its
        change is the last step under it) and has it again once a write containing its
        change succeeded: an intent is durable before its call.

        ``_lock`` is released meanwhile, so other operations go on. Writes take
        ``_writing`` in turn and each writes the newest state, so the callers queued
        behind a write mostly find their change written by the next one (group commit: one
        write, one S3 PUT, for all of them), and serials only grow.
        """
        self._changes += 1
        wanted = self._changes
        self._lock.release()
        try:
            with self._writing:
                if self._saved < wanted:
                    self._write_locked()
        except (StateError, OSError) as exc:
            if not self._rolling_back:
                raise
            # A rollback goes on when state cannot be written (a full disk): undoing the
            # cloud changes matters more; what could not be saved is reported.
            self._save_failures.append(_message(exc))
        finally:
            self._lock.acquire()

    def _write_locked(self) -> None:
        """Write the newest state (the caller holds ``_writing``, not ``_lock``)."""
        with self._lock:
            changes = self._changes
            self._serial += 1
            # Old halves of replacements stay tracked as `path#old` until deleted, so
            # nothing is ever lost; they win over a `path#old` left by a run that died.
            keys = self.resources.take_changed()
            keys |= {f"{path}#old" for path in self.retired.take_changed()}
            self._unsaved |= keys
            if self._snapshot is None:
                entries = dict(self.resources)
                entries.update((f"{path}#old", old) for path, old in self.retired.items())
                resources = ResourceMap(entries, base=self._saved_map, changed=self._unsaved)
            else:
                # The previous snapshot plus what changed since: costs the changes only.
                update: dict[str, ResourceState | None] = {}
                for key in keys:
                    old = self.retired.get(key[: -len("#old")]) if key.endswith("#old") else None
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
                outputs=self._outputs,
                local_instance=self._local_instance,
                lineage=self._lineage,
                pending=tuple(self.pending.values()),
            )
        self.backend.write(state)
        self._saved, self._saved_map, self._unsaved = changes, resources.token, set()


@attrs.frozen
class _Spec:
    """What a create needs besides the handler: the desired entry, resolved."""

    type: str
    inputs: Mapping[str, Any]
    props: Mapping[str, Any]
    depends_on: tuple[str, ...]
    options: Mapping[str, Any]

    def state(self, physical_id: str, attributes: Mapping[str, Any], attempt: int) -> ResourceState:
        return ResourceState(
            self.type,
            physical_id,
            self.inputs,
            self.props,
            dict(attributes),
            self.depends_on,
            self.options,
            attempt,
        )


def _break_cycles(deps: dict[str, set[str]]) -> None:
    """Drop the edges inside each cycle of ``deps`` (groups that admit each other): their
    deletes then run side by side, each group revoking its rules that name the other."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(deps)
    graph.add_edges_from((node, dep) for node, ds in deps.items() for dep in ds)
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            for node in component:
                deps[node] -= component


def _live_tags(change: ResourceChange) -> dict[str, str] | None:
    """The tags the resource has, when the plan changes its tag set (drift, a rename):
    the planner's ``tags`` diff of an update holds the whole set, system tags included."""
    for diff in change.diffs:
        if diff.name == "tags" and not diff.known_after_deploy and isinstance(diff.old, dict):
            return {str(k): str(v) for k, v in diff.old.items()}
    return None


def _backoff(tries: int) -> float:
    """Seconds before try ``tries + 1``: 0.5 s, 1 s, 2 s... with jitter, capped at 8 s."""
    base: float = min(8.0, 0.5 * 2 ** (tries - 1))
    return base * random.uniform(0.5, 1.0)


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
