"""The executor: applies a plan through the handlers, keeps state, and rolls back.

Invariants:
- Only the engine (this module, `cleanup`, `rollback` and the calls they share) calls the
  mutating handler methods.
- State is written after every completed operation, so a crash loses at most the call in
  flight (see `infradsl.engine.journal`, which also says who guards what).
- The journal records what actually happened; rollback is computed from it, in reverse
  (`infradsl.engine.rollback`).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from itertools import chain, repeat
from typing import Any

import attrs

from infradsl.engine._calls import MAX_ATTEMPTS, Calls, HandlerFor, backoff, message
from infradsl.engine.cleanup import Cleanup, Hold
from infradsl.engine.events import Listener
from infradsl.engine.journal import Journal, Op
from infradsl.engine.migration import run_migrations
from infradsl.engine.rollback import roll_back
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
from infradsl.state.model import Recovered, ResourceState, StackState, StateKey

__all__ = [
    "MAX_ATTEMPTS",
    "DeployResult",
    "Executor",
    "HandlerFor",
    "Hold",
    "Status",
    "UnresolvedError",
]

_DEFERRED = "#deferred"  # the walk node that applies what a create had to leave out


class UnresolvedError(InfraDslError):
    """A create failed and the lookup that would tell whether it took effect failed too:
    its intent stays in the state's journal for the next run's recovery."""


class Status(enum.Enum):
    """How a deploy ended; `infradsl.cli._exit` maps each to its exit code."""

    OK = "ok"
    ROLLED_BACK = "rolled back"
    ROLLBACK_INCOMPLETE = "rollback incomplete"
    FAILED_NO_ROLLBACK = "failed, no rollback"  # what succeeded is kept and tracked
    CLEANUP_FAILED = "cleanup failed"  # all was deployed; old resources stay tracked
    INTERRUPTED = "interrupted"


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
        self.journal = Journal(self.stack, self.region, target, state, backend, local_instance)
        self.calls = Calls(self.journal, clients, handler_for, self.listener, stop)
        self.cleanup = Cleanup(self.calls)
        self._hold: Hold | None = None
        # Reads ``resources`` as it grows: a single dict lookup needs no lock.
        self._lookup = state_lookup(self.stack, self.journal.resources, self.other_states)
        # path -> the properties its create leaves to a ``#deferred`` node (`_schedule`).
        self._late: dict[str, set[str]] = {}
        # path -> type of the creates whose readiness `_await_ready` awaits in one batch.
        self._settling: dict[str, str] = {}

    @property
    def held(self) -> dict[str, ResourceState]:
        """Doomed resources whose delete waits until the stacks that use them are deployed
        (see `finish_held`), by their key in state; they stay tracked there meanwhile."""
        return {str(key): res for key, res in self.cleanup.held.items()}

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
        errors = [(p.removesuffix(_DEFERRED), message(e)) for p, e in sorted(result.errors.items())]
        finished = result.ok
        if result.ok:
            errors.extend(self._await_ready())
        if result.ok and not errors:
            # After everything else (the data volumes moved), before the old halves go.
            errors.extend(run_migrations(self.calls, changes, desired))
        if result.ok and not errors:
            cleanup_errors, finished = self.cleanup.run(changes, concurrency, self._hold)
            errors.extend(cleanup_errors)
        if not errors:
            if not finished:
                return self._interrupted()
            return self._finished(Status.ROLLBACK_INCOMPLETE)
        if not rollback:
            self.journal.rolling_back = True  # saving is best effort from here on
            self.journal.save()
            leftovers = [
                f"{i['path']}: the outcome of its {i['op']} is unknown; the next run resolves it"
                for i in self.journal.unresolved()
            ]
            return DeployResult(
                Status.FAILED_NO_ROLLBACK,
                tuple(errors),
                tuple(leftovers + self.journal.leftovers()),
                operations=self.journal.operations(),
            )
        leftovers = roll_back(self.calls, self.original)
        if leftovers:
            return DeployResult(
                Status.ROLLBACK_INCOMPLETE,
                tuple(errors),
                tuple(leftovers),
                operations=self.journal.operations(),
            )
        return DeployResult(Status.ROLLED_BACK, tuple(errors), operations=self.journal.operations())

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
        with self.journal.lock:
            for path, type_name in self._settling.items():
                res = self.journal.resources.get(path)
                if res is not None:
                    by_type.setdefault(type_name, {})[res.physical_id] = path
        errors: list[tuple[str, str]] = []
        for type_name, ids in sorted(by_type.items()):
            handler: Any = self.handler_for(type_name)
            ctx = self.calls.context("", 0)
            started = time.monotonic()
            try:
                with reporting_to(self.calls.reporter("", "settle", type_name)):
                    ready = handler.settle(ctx, sorted(ids))
            except Exception as exc:
                errors.extend((path, message(exc)) for path in sorted(ids.values()))
                continue
            with self.journal.lock:
                for physical_id, attributes in ready.items():
                    path = ids[physical_id]
                    res = self.journal.resources[path].with_recovered(None)
                    self.journal.resources[path] = attrs.evolve(
                        res, attributes={**res.attributes, **attributes}
                    )
                self.journal.save_locked()
            self.calls.emit(
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
        with self.journal.lock:
            created = self.journal.resources[change.path]
        props = resolve(entry["properties"], self._lookup)
        ctx = self.calls.context(change.path, created.attempt, fresh=True)
        intent = self.journal.intend(
            {
                "op": Op.UPDATE.value,
                "path": change.path,
                "type": change.type,
                "physical_id": created.physical_id,
            }
        )
        try:
            with reporting_to(self.calls.reporter(change.path, change.action.verb, change.type)):
                # Only the first try knows what is live: a try after a lost answer
                # converges against what it reads.
                contexts = chain([ctx], repeat(attrs.evolve(ctx, fresh=False)))
                updated = self.calls.idempotent(
                    lambda: handler.update(
                        next(contexts), created.physical_id, created.properties, props
                    )
                )
        except BaseException as exc:
            self.journal.settle(intent)
            self.calls.emit("failed", change.path, "apply rules of", change.type, message(exc))
            raise
        new = attrs.evolve(
            created,
            inputs=entry["properties"],
            properties=props,
            attributes={**created.attributes, **updated.attributes},
        )
        # Undone by undoing the create (or replace) journaled before it.
        self.journal.record(Op.FINISH, change.path, created, new, change.path, intent)

    def _interrupted(self) -> DeployResult:
        self.journal.save()
        return DeployResult(
            Status.INTERRUPTED, (("", "interrupted"),), operations=self.journal.operations()
        )

    def _apply(self, change: ResourceChange) -> None:
        assert self.document is not None
        entry = self.document["resources"][change.path]
        verb = change.action.verb
        self.calls.emit("start", change.path, verb, change.type)
        started = time.monotonic()
        try:
            with reporting_to(self.calls.reporter(change.path, verb, change.type)):
                detail = self._apply_change(change, entry)
        except BaseException as exc:
            self.calls.emit(
                "failed", change.path, verb, change.type, message(exc), time.monotonic() - started
            )
            raise
        self.calls.emit("done", change.path, verb, change.type, detail, time.monotonic() - started)

    def _apply_change(self, change: ResourceChange, entry: Mapping[str, Any]) -> str:
        handler = self.handler_for(change.type)
        old_path = change.previous_path or change.path
        with self.journal.lock:
            old = self.journal.resources.get(old_path)
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
            self.journal.record(Op.CREATE, change.path, old, new, old_path, intent)
            return new.physical_id
        assert old is not None
        if change.action is Action.UPDATE:
            attributes: Mapping[str, Any] = old.attributes
            update_intent: str | None = None
            finishing = old.recovered is not None
            live_tags = _live_tags(change)
            if (
                props != old.properties
                or finishing
                or live_tags is not None
                or any(d.drift for d in change.diffs)
            ):
                update_intent = self.journal.intend(
                    {
                        "op": Op.UPDATE.value,
                        "path": change.path,
                        "type": change.type,
                        "physical_id": old.physical_id,
                    }
                )
                ctx = attrs.evolve(
                    self.calls.context(change.path, old.attempt), live_tags=live_tags
                )
                # A create finished from scratch; an interrupted update from the state's.
                before = {} if old.recovered is Recovered.CREATE else old.properties
                try:
                    updated = self.calls.idempotent(
                        lambda: handler.update(ctx, old.physical_id, before, props)
                    )
                except BaseException:
                    self.journal.settle(update_intent)
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
            self.journal.record(Op.UPDATE, change.path, old, new, old_path, update_intent)
            return old.physical_id
        # REPLACE
        attempt = old.attempt + 1
        if spec.options.get("delete_before_replace"):
            self.calls.delete(StateKey(old_path), old)
            new, intent = self._create(handler, change.path, attempt, spec, replace=False)
            self.journal.record(Op.CREATE, change.path, None, new, change.path, intent)
            return new.physical_id
        new, intent = self._create(handler, change.path, attempt, spec, replace=True)
        self.journal.record(Op.REPLACE, change.path, old, new, old_path, intent)
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
        ctx = self.calls.context(path, attempt, settle_later=path in self._settling)
        intent = self.journal.intend(
            {
                "op": Op.CREATE.value,
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
        op = Op.REPLACE if replace else Op.CREATE
        tries = 0
        while True:
            tries += 1
            try:
                created = handler.create(ctx, spec.props)
                new = spec.state(created.physical_id, created.attributes, attempt)
                if ctx.settle_later:
                    # Not ready yet: should this run die before `_await_ready`, the next
                    # plan finishes it with an update, which reads its final attributes.
                    new = new.with_recovered(Recovered.CREATE)
                return new, intent
            except BaseException as exc:
                try:
                    found = handler.find(ctx, spec.props)
                except Exception as lookup:
                    raise UnresolvedError(
                        f"{message(exc)}; looking the resource up by its token failed too "
                        f"({message(lookup)}), so whether it exists is unknown: the intent "
                        "stays in the state's journal and the next run resolves it"
                    ) from exc
                if found is not None:
                    new = spec.state(found.physical_id, found.attributes, attempt)
                    if not isinstance(exc, OutcomeUnknownError):
                        # A definite failure after the resource existed: track it, so the
                        # rollback removes it.
                        self.journal.record(
                            op, path, self.journal.resources.get(path), new, path, intent
                        )
                        raise
                    notify(
                        f"{exc.operation} took effect although its answer was lost: found "
                        f"{found.physical_id} by its token; finishing the create"
                    )
                    return self._finish_found(handler, ctx, spec, new, op, intent), intent
                if (
                    not isinstance(exc, OutcomeUnknownError)
                    or tries >= MAX_ATTEMPTS
                    or self.calls.stopping()
                ):
                    self.journal.settle(intent)
                    raise
                delay = backoff(tries)
                notify(
                    f"{message(exc)}; no resource carries this create's token, so it did "
                    f"not take effect: trying again in {delay:.1f}s"
                )
                time.sleep(delay)

    def _finish_found(
        self,
        handler: ResourceHandler,
        ctx: HandlerContext,
        spec: _Spec,
        new: ResourceState,
        op: Op,
        intent: str,
    ) -> ResourceState:
        """Finish a create whose answer was lost: it may have stopped between its calls (a
        group without its rules), so it is converged with an update against what is live."""
        try:
            updated = self.calls.idempotent(
                lambda: handler.update(ctx, new.physical_id, {}, spec.props)
            )
        except BaseException:
            self.journal.record(
                op, ctx.path, self.journal.resources.get(ctx.path), new, ctx.path, intent
            )
            raise
        return attrs.evolve(new, attributes={**new.attributes, **updated.attributes})

    def finish_held(self, *, concurrency: int = 10, hold: Hold | None = None) -> DeployResult:
        """Delete what `run` held back, now that the stacks that used it are deployed.

        What ``hold`` says is still used stays held (and tracked in state). Nothing is
        rolled back when a delete fails: the new resources are in use by then; what could
        not be deleted stays tracked, and the next deploy deletes it.

        Returns:
            the result of the whole run (`operations` counts both passes).
        """
        self._hold = hold
        errors, finished = self.cleanup.run({}, concurrency, self._hold)
        if errors:
            self.journal.save()
            return DeployResult(
                Status.CLEANUP_FAILED,
                tuple(errors),
                tuple(self.journal.leftovers()),
                outputs=self.journal.outputs,
                operations=self.journal.operations(),
            )
        if not finished:
            return self._interrupted()
        return self._finished(Status.CLEANUP_FAILED)

    def _finished(self, unsaved: Status) -> DeployResult:
        """Save the final state; `Status.OK`, or ``unsaved`` when that save failed."""
        try:
            self._finish()
        except (StateError, OSError) as exc:
            self.journal.save_failures.append(message(exc))
            return DeployResult(
                unsaved,
                (("", f"saving the final state failed: {message(exc)}"),),
                tuple(self.journal.leftovers()),
                operations=self.journal.operations(),
            )
        return DeployResult(
            Status.OK, outputs=self.journal.outputs, operations=self.journal.operations()
        )

    # -- state -------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.document is not None:
            self.journal.outputs = resolve_outputs(self.document["outputs"], self._lookup)
            # Options and dependencies of unchanged resources follow the document too, and
            # so do their references to resources renamed through an alias.
            moved = {c.previous_path: c.path for c in self.plan.changes if c.previous_path}
            with self.journal.lock:
                for path, entry in self.document["resources"].items():
                    res = self.journal.resources.get(path)
                    if res is not None:
                        self.journal.resources[path] = attrs.evolve(
                            res,
                            inputs=renamed_references(dict(res.inputs), moved),
                            options=entry.get("options", {}),
                            depends_on=tuple(entry["depends_on"]),
                        )
        else:
            self.journal.outputs = {}
            with self.journal.lock:
                empty = not self.journal.resources and not self.journal.retired
            if empty:
                # A destroyed stack has no state: deploying it again starts a new lineage,
                # so its generated names cannot collide with names still reserved by AWS
                # (a deleted secret stays reserved for its recovery window).
                self.backend.restore(self.stack, None)
                return
        self.journal.save()


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


def _live_tags(change: ResourceChange) -> dict[str, str] | None:
    """The tags the resource has, when the plan changes its tag set (drift, a rename):
    the planner's ``tags`` diff of an update holds the whole set, system tags included."""
    for diff in change.diffs:
        if diff.name == "tags" and not diff.known_after_deploy and isinstance(diff.old, dict):
            return {str(k): str(v) for k, v in diff.old.items()}
    return None
