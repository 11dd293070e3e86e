"""One CLI run against one target: plans, deploys and destroys the stacks of an app.

It orders stacks by their cross-stack references, takes each stack's lock, refreshes
from the cloud, plans, asks for confirmation and runs the executor.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from infradsl.engine.events import Event, Listener
from infradsl.engine.executor import DeployResult, Executor, Status
from infradsl.engine.recovery import recover
from infradsl.plan.change import Plan, PlanError
from infradsl.plan.planner import plan_stack, topological_order
from infradsl.plan.values import references, resolve_outputs, state_lookup
from infradsl.providers.handler import HandlerContext, ReadResult, ResourceHandler
from infradsl.state.backend import LockInfo, StateBackend, current_user
from infradsl.state.model import StackState

__all__ = ["Session", "StackRun", "git_info", "stack_order"]

ClientsFor = Callable[[str], Any]
Confirm = Callable[[Sequence[Plan]], bool]


@attrs.frozen
class StackRun:
    """The plan of one stack, and the result when it was applied."""

    plan: Plan
    result: DeployResult | None = None


def stack_order(documents: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Stack names so that producers come before the stacks that read from them."""
    return topological_order(
        {
            name: {s for s, _p, _a in references([doc["resources"], doc["outputs"]]) if s} - {name}
            for name, doc in documents.items()
        }
    )


def git_info(folder: Path) -> dict[str, Any]:
    """The git commit of ``folder`` and whether the tree was dirty (empty if not a repo)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


class Session:
    """Plans and applies stacks on one target.

    Args:
        backend: the state backend.
        target: ``local`` or ``aws``.
        clients_for: region -> client provider.
        handler_for: type name -> handler.
        listener: receives progress events.
        local_instance: the local cloud's instance id (local target only).
        app_folder: the folder of the app file (for the git commit in history).
    """

    def __init__(
        self,
        backend: StateBackend,
        *,
        target: str,
        clients_for: ClientsFor,
        handler_for: Callable[[str], ResourceHandler],
        listener: Listener | None = None,
        local_instance: str | None = None,
        app_folder: Path | None = None,
        preflight: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        # region -> raises when the cloud cannot be reached there (checked once per region).
        self.preflight = preflight
        self._reached: set[str] = set()
        self.target = target
        self.clients_for = clients_for
        self.handler_for = handler_for
        self.listener = listener or (lambda event: None)
        self.local_instance = local_instance
        self.app_folder = app_folder or Path.cwd()
        self.stop = threading.Event()
        self._notes: dict[str, list[str]] = {}

    @classmethod
    def with_aws(
        cls,
        backend: StateBackend,
        *,
        target: str,
        endpoint_url: str | None = None,
        listener: Listener | None = None,
        app_folder: Path | None = None,
    ) -> Session:
        """A session on the AWS handlers, with one boto3 client set per region.

        Args:
            endpoint_url: the local cloud's URL, or ``None`` for real AWS.
        """
        from infradsl.providers.aws import handler_for
        from infradsl.providers.aws.clients import Clients, check_reachable

        cache: dict[str, Clients] = {}

        def clients_for(region: str) -> Clients:
            if region not in cache:
                cache[region] = Clients(region, endpoint_url)
            return cache[region]

        return cls(
            backend,
            target=target,
            clients_for=clients_for,
            handler_for=handler_for,
            listener=listener,
            app_folder=app_folder,
            preflight=lambda region: check_reachable(clients_for(region)),
        )

    def reach(self, region: str) -> None:
        """Make sure the cloud answers in ``region`` before anything is read or changed."""
        if self.preflight is not None and region not in self._reached:
            self.preflight(region)
            self._reached.add(region)

    # -- planning ------------------------------------------------------------------------

    def refresh(self, state: StackState | None) -> dict[str, ReadResult | None]:
        """Read every resource of ``state`` from the cloud: one read per type (batched)."""
        if state is None:
            return {}
        by_type: dict[str, dict[str, str]] = {}
        for path, res in state.resources.items():
            by_type.setdefault(res.type, {})[res.physical_id] = path
        live: dict[str, ReadResult | None] = {p: None for p in state.resources}
        clients = self.clients_for(state.region)
        for type_name in sorted(by_type):
            ids = by_type[type_name]
            ctx = HandlerContext(stack=state.stack, path="", region=state.region, clients=clients)
            found = self.handler_for(type_name).read(ctx, sorted(ids))
            for physical_id, result in found.items():
                if physical_id in ids:
                    live[ids[physical_id]] = result
        return live

    def plan(
        self,
        name: str,
        document: Mapping[str, Any] | None,
        *,
        refresh: bool = True,
        state: StackState | None = None,
        region: str | None = None,
    ) -> Plan:
        """Plan one stack (``document=None`` plans its destruction)."""
        if state is None:
            state = self.backend.read(name)
            self.check_state(name, state, document)
            if state is not None and state.pending:
                lock = LockInfo.new("recover")
                self._lock(name, lock)
                try:
                    state = self._recovered(name, self.backend.read(name))
                finally:
                    self.backend.unlock(name, lock.id)
        else:
            self.check_state(name, state, document)
        notes: list[str] = list(self._notes.pop(name, []))
        if (
            self.target == "local"
            and state is not None
            and state.resources
            and state.local_instance
            and self.local_instance
            and state.local_instance != self.local_instance
        ):
            count = len(state.resources)
            what = "the resource" if count == 1 else f"the {count} resources"
            notes.append(
                f"the local cloud was restarted since the last deploy, so {what} in state no "
                "longer exist there: they are shown as missing and will be created again"
            )
        if state is not None:
            self.reach(state.region)
        elif document is not None:
            self.reach(str(document["region"]))
        live = self.refresh(state) if refresh else None
        return plan_stack(document, state, live, stack=name, region=region, notes=tuple(notes))

    # -- applying ------------------------------------------------------------------------

    def apply(
        self,
        documents: Mapping[str, Mapping[str, Any] | None],
        *,
        operation: str,
        confirm: Confirm,
        concurrency: int = 10,
        rollback: bool = True,
        refresh: bool = True,
        on_plan: Callable[[Sequence[Plan]], None] | None = None,
    ) -> list[StackRun]:
        """Lock, plan, confirm and apply each stack in dependency order.

        ``documents`` maps stack name -> document, or ``None`` to destroy that stack.
        Destroys run in reverse order. Stops at the first stack that fails.
        """
        names = stack_order({n: d for n, d in documents.items() if d is not None})
        names += sorted(n for n, d in documents.items() if d is None)
        if operation == "destroy":
            names.reverse()
        lock = LockInfo.new(operation)
        locked: list[str] = []
        runs: list[StackRun] = []
        try:
            for name in names:
                self._lock(name, lock)
                locked.append(name)
            states = {}
            for name in names:
                state = self.backend.read(name)
                self.check_state(name, state, documents[name])
                states[name] = self._recovered(name, state)
            self._check_producers(documents)
            plans = []
            for name in names:
                doc = documents[name]
                state = states[name]
                plans.append(
                    self.plan(
                        name,
                        doc,
                        refresh=refresh,
                        state=state,
                        region=state.region if state else None,
                    )
                )
            if on_plan is not None:
                on_plan(plans)
            if not any(p.has_changes for p in plans):
                runs = []
                for plan in plans:
                    state = self._with_current_outputs(documents[plan.stack], states[plan.stack])
                    result = DeployResult(Status.OK, outputs=dict(state.outputs) if state else {})
                    self._record(plan, result, operation, unchanged=True)
                    runs.append(StackRun(plan, result))
                return runs
            if not confirm(plans):
                return [StackRun(p) for p in plans]
            for plan in plans:
                name = plan.stack
                if not plan.has_changes:
                    runs.append(StackRun(plan, DeployResult(Status.OK)))
                    continue
                others = {
                    n: s
                    for n in self.backend.stacks()
                    if n != name and (s := self.backend.read(n)) is not None and s.stack == n
                }
                executor = Executor(
                    plan,
                    documents[name],
                    states[name],
                    self.backend,
                    self.clients_for(plan.region),
                    self.handler_for,
                    target=self.target,
                    other_states=others,
                    listener=self.listener,
                    local_instance=self.local_instance,
                    stop=self.stop,
                )
                result = executor.run(concurrency=concurrency, rollback=rollback)
                self._record(plan, result, operation)
                runs.append(StackRun(plan, result))
                if result.status is not Status.OK:
                    break
            return runs
        finally:
            for name in locked:
                self.backend.unlock(name, lock.id)

    def check_state(
        self, name: str, state: StackState | None, document: Mapping[str, Any] | None
    ) -> None:
        """Refuse, before any call, a state that is not this stack's own.

        A renamed or copied state file (another stack's, another region's, another
        target's) would make the plan delete that stack's resources and create duplicates
        of these.

        Raises:
            PlanError: the state belongs to another stack, region or target, or tracks a
                resource type this version of infradsl does not know.
        """
        if state is None:
            return
        where = getattr(self.backend, "location", "the state backend")
        wrong: list[str] = []
        if state.stack != name:
            wrong.append(
                f"it is the state of stack {state.stack!r}, not {name!r} (a renamed or copied "
                f"file?): put it back as {state.stack!r}'s state, or move it aside if "
                f"{name!r} was never deployed"
            )
        if state.target != self.target:
            wrong.append(
                f"it was written for target {state.target!r}, not {self.target!r}: use "
                f"--target {state.target} or the state of the {self.target!r} target"
            )
        if document is not None and document.get("region") != state.region:
            wrong.append(
                f"its resources are in {state.region}, but the code deploys {name!r} to "
                f"{document.get('region')}: a stack does not move regions. Set the region "
                f"back, or destroy it in {state.region} and deploy it under a new name"
            )
        unknown = sorted(
            f"{path} ({res.type})"
            for path, res in state.resources.items()
            if not self._knows(res.type)
        )
        if unknown:
            wrong.append(
                "it tracks resources of types this version of infradsl does not know: "
                f"{', '.join(unknown)} (written by a newer version?): upgrade infradsl"
            )
        if wrong:
            raise PlanError(
                f"refusing the state of stack {name!r} in {where}; nothing was changed: "
                + "; ".join(wrong)
            )

    def _knows(self, type_name: str) -> bool:
        try:
            self.handler_for(type_name)
        except KeyError:
            return False
        return True

    def _lock(self, name: str, lock: LockInfo) -> None:
        """Take a stack's lock; say so when it was taken over from a run that died."""
        dead = self.backend.lock(name, lock)
        if dead is not None:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dead.created))
            note = (
                f"took over the lock of a run that is no longer running ({dead.operation} by "
                f"{dead.user}@{dead.host}, pid {dead.pid}, since {since}); its unfinished "
                "work is recovered from the journal"
            )
            self._notes.setdefault(name, []).append(note)
            self.listener(Event("note", name, detail=note))

    def _recovered(self, name: str, state: StackState | None) -> StackState | None:
        """Resolve a dead run's unfinished intents (the caller holds the lock)."""
        if state is None or not state.pending:
            return state
        self.reach(state.region)
        recovered, notes = recover(state, self.clients_for(state.region), self.handler_for)
        self.backend.write(recovered)
        self._notes.setdefault(name, []).extend(
            f"recovered from an interrupted run: {note}" for note in notes
        )
        for note in notes:
            self.listener(Event("note", name, detail=note))
        return recovered

    def _with_current_outputs(
        self, document: Mapping[str, Any] | None, state: StackState | None
    ) -> StackState | None:
        """Outputs resolved from state; saved when they changed (a recovered run never got
        to write them)."""
        if document is None or state is None:
            return state
        others = {
            n: s for n in self.backend.stacks() if (s := self.backend.read(n)) and s.stack == n
        }
        lookup = state_lookup(state.stack, state.resources, others)
        outputs = resolve_outputs(document["outputs"], lookup)
        if outputs == dict(state.outputs):
            return state
        updated = attrs.evolve(state, outputs=outputs, serial=state.serial + 1)
        self.backend.write(updated)
        return updated

    def _check_producers(self, documents: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Refuse before any change when a stack reads from a stack that is not deployed."""
        missing: list[str] = []
        for name, doc in sorted(documents.items()):
            if doc is None:
                continue
            refs = {r for r in references([doc["resources"], doc["outputs"]]) if r[0]}
            for stack, path, attribute in sorted(refs, key=str):
                assert stack is not None
                if stack == name or documents.get(stack) is not None:
                    continue  # deployed earlier in this run
                producer = self.backend.read(stack)
                if producer is None or path not in producer.resources:
                    missing.append(
                        f"stack {name!r} reads {stack}/{path}.{attribute}, but {stack!r} has "
                        f"not deployed {path}: deploy {stack!r} first"
                    )
        if missing:
            raise PlanError("refused, nothing was changed: " + "; ".join(missing))

    def _record(
        self, plan: Plan, result: DeployResult, operation: str, unchanged: bool = False
    ) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "user": current_user(),
            "host": socket.gethostname(),
            "operation": operation,
            "target": self.target,
            **git_info(self.app_folder),
            "summary": {k: v for k, v in plan.summary().items() if v and k != "no-op"},
            "result": "no changes" if unchanged else result.status.name.lower().replace("_", " "),
        }
        self.backend.append_history(plan.stack, record)
        self.listener(Event("note", plan.stack, detail=f"recorded {operation} in history"))
