"""One CLI run against one target: plans, deploys and destroys the stacks of an app.

It orders stacks by their cross-stack references, takes each stack's lock, refreshes
from the cloud, plans, asks for confirmation and runs the executor.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import attrs

from infradsl.core._gc import collector_paused
from infradsl.engine.events import Event, Listener
from infradsl.engine.executor import DeployResult, Executor, Hold, Status
from infradsl.engine.lookup import resolve_lookups
from infradsl.engine.recovery import recover
from infradsl.engine.walker import Outcome, walk
from infradsl.plan.change import Action, Plan, PlanError
from infradsl.plan.crossstack import Reader, Upstream, readers, stack_dependencies
from infradsl.plan.lookup import with_lookups
from infradsl.plan.planner import plan_stack, topological_order
from infradsl.plan.values import document_references, resolve_outputs, state_lookup
from infradsl.providers.handler import HandlerContext, ReadResult, ResourceHandler
from infradsl.providers.provider import Provider
from infradsl.state.backend import LockInfo, StateBackend, StateLockedError, current_user
from infradsl.state.lockwait import wait_for_lock
from infradsl.state.model import ResourceState, StackState, StateKey

__all__ = ["Session", "StackRun", "git_info", "stack_order"]

ClientsFor = Callable[[str], Any]
Confirm = Callable[[Sequence[Plan]], bool]


@attrs.frozen
class StackRun:
    """The plan of one stack, and the result when it was applied."""

    plan: Plan
    result: DeployResult | None = None


def stack_order(
    documents: Mapping[str, Mapping[str, Any] | None],
    states: Mapping[str, StackState | None] | None = None,
) -> list[str]:
    """Stack names so that producers come before the stacks that read from them.

    Args:
        documents: stack -> its document, or ``None`` when it is destroyed: such a stack
            is ordered by the references its deployed resources recorded in ``states``.
        states: the stacks' states.
    """
    return topological_order(stack_dependencies(documents, states or {}))


def git_info(folder: Path) -> dict[str, Any]:
    """The git commit of ``folder``, its branch, the commit's author, and whether tracked
    files had uncommitted changes (``commit`` and ``dirty`` are None if not a repo).

    On a detached HEAD (a CI checkout, ``deploy --at``) the branch comes from the CI's
    variables when one names it (GitHub Actions, GitLab CI, Jenkins), else it is None.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    try:
        branch: str | None = git("rev-parse", "--abbrev-ref", "HEAD")
        author: str | None = git("log", "-1", "--format=%an <%ae>")
    except (OSError, subprocess.SubprocessError):
        branch = author = None
    if branch in (None, "", "HEAD"):
        branch = next(
            (
                os.environ[name]
                for name in (
                    "GITHUB_HEAD_REF",
                    "GITHUB_REF_NAME",
                    "CI_COMMIT_REF_NAME",
                    "BRANCH_NAME",
                )
                if os.environ.get(name)
            ),
            None,
        )
    return {"commit": commit, "branch": branch, "author": author, "dirty": bool(dirty)}


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
        preflight: Callable[[str], object] | None = None,
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
        # How the user named the app file, for the commands suggested in messages.
        self.app_path = "APP"
        self.stop = threading.Event()
        # How many calls run at once: the deploy's bound, used by refresh reads as well.
        self.concurrency = 10
        # (region, resource types) -> starts creating their clients in the background.
        self.prewarm: Callable[[str, set[str]], None] | None = None
        self._notes: dict[str, list[str]] = {}
        # How long to wait for a lock another run holds (--lock-timeout), in seconds, and
        # what to tell the user when the wait starts.
        self.lock_timeout = 0.0
        self.on_lock_wait: Callable[[StateLockedError], None] | None = None
        # More fields for each history record of this run (the plan hash, `--at`).
        self.record_extra: dict[str, Any] = {}

    @classmethod
    def with_provider(
        cls,
        backend: StateBackend,
        provider: Provider,
        *,
        target: str,
        listener: Listener | None = None,
        app_folder: Path | None = None,
    ) -> Session:
        """A session on ``provider``'s clients and handlers.

        Args:
            backend: the state backend.
            provider: the cloud, built by the caller (the command line, the test plugin:
                `infradsl.providers.aws.provider.aws_provider`).
            target: ``local`` or ``aws``.
            listener: receives progress events.
            app_folder: the folder of the app file (for the git commit in history).
        """
        session = cls(
            backend,
            target=target,
            clients_for=provider.clients_for,
            handler_for=provider.handler_for,
            listener=listener,
            app_folder=app_folder,
            preflight=provider.preflight,
        )
        session.prewarm = provider.prewarm
        return session

    def warm(self, documents: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Start creating, in the background, the clients the documents' resources need."""
        if self.prewarm is None:
            return
        by_region: dict[str, set[str]] = {}
        for doc in documents.values():
            if doc is not None:
                types = {entry["type"] for entry in doc["resources"].values()}
                by_region.setdefault(str(doc["region"]), set()).update(types)
        for region, types in sorted(by_region.items()):
            self.prewarm(region, types)

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
        ctx = HandlerContext(stack=state.stack, path="", region=state.region, clients=clients)

        def read(type_name: str) -> Mapping[str, ReadResult]:
            return self.handler_for(type_name).read(ctx, sorted(by_type[type_name]))

        # One batched read per type; the types are read side by side.
        types = sorted(by_type)
        if len(types) > 1 and self.concurrency > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.concurrency, len(types))) as pool:
                results = list(pool.map(read, types))
        else:
            results = [read(t) for t in types]
        for type_name, found in zip(types, results, strict=True):
            ids = by_type[type_name]
            for physical_id, result in found.items():
                if physical_id in ids:
                    live[ids[physical_id]] = result
        return live

    @overload
    def resolve_lookups(self, document: None) -> None: ...

    @overload
    def resolve_lookups(self, document: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def resolve_lookups(self, document: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """``document`` with its lookups resolved, looked up in the cloud now.

        Raises:
            LookupFailedError: a lookup found nothing or several resources; nothing was
                changed.
        """
        if document is None:
            return None
        return resolve_lookups(
            document,
            clients_for=self.clients_for,
            handler_for=self.handler_for,
            reach=self.reach,
            target=self.target,
        )

    def plan(
        self,
        name: str,
        document: Mapping[str, Any] | None,
        *,
        refresh: bool = True,
        state: StackState | None = None,
        region: str | None = None,
        upstream: Upstream | None = None,
    ) -> Plan:
        """Plan one stack (``document=None`` plans its destruction).

        ``upstream`` gives the states of the other stacks and the plans of its producers
        in this run; without it, the states are read from the backend.
        """
        document = self.resolve_lookups(document)
        if upstream is None:
            upstream = Upstream(name, self.states())
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
        planned = plan_stack(
            document,
            state,
            live,
            stack=name,
            region=region,
            notes=tuple(notes),
            upstream=attrs.evolve(
                upstream, states={**upstream.states, **({name: state} if state else {})}
            ),
        )
        return with_lookups(planned, document)

    # Reading the states and planning build what the run keeps (millions of objects at
    # 100,000 resources): the cycle collector would only walk them again and again.
    @collector_paused()
    def plan_all(
        self, documents: Mapping[str, Mapping[str, Any]], *, refresh: bool = True
    ) -> list[Plan]:
        """Plan stacks in dependency order, each consumer with its producers' plans: what
        reads a producer resource that is replaced is planned as changing too."""
        documents = {n: self.resolve_lookups(d) for n, d in documents.items()}
        states = self.states()
        self._check_producers(documents)
        plans: list[Plan] = []
        for name in stack_order(documents, states):
            upstream = Upstream(name, states, tuple(plans))
            # The state just read is planned from (not read and parsed again), unless it
            # holds a dead run's intents: `plan` recovers those under the lock.
            state = states.get(name)
            plans.append(
                self.plan(
                    name,
                    documents[name],
                    refresh=refresh,
                    upstream=upstream,
                    state=state if state is not None and not state.pending else None,
                )
            )
        return plans

    def states(self) -> dict[str, StackState]:
        """The state of every stack in the backend (skipping another stack's state file)."""
        return {n: s for n in self.backend.stacks() if (s := self.backend.read(n)) and s.stack == n}

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
        Producers deploy before their consumers; destroys run consumers first (the order
        of a stack being destroyed comes from the references its state recorded). Stops
        at the first stack that fails.

        A producer's deletes that a consumer still uses (the old half of a replacement, a
        resource removed from the code) wait until the consumers are deployed, and are
        kept while a consumer still uses them (its deploy failed, or it is not part of
        this run).

        Raises:
            PlanError: refused before any change: a stack reads a resource that is not
                deployed, or the run would delete what a stack outside it still uses.
        """
        self.concurrency = concurrency
        # Before any lock or change: a lookup that fails refuses the run.
        documents = {n: self.resolve_lookups(d) for n, d in documents.items()}
        lock = LockInfo.new(operation)
        locked: list[str] = []
        runs: list[StackRun] = []
        try:
            # Locks are taken in name order, so two runs never wait on each other.
            for name in sorted(documents):
                self._lock(name, lock)
                locked.append(name)
            states: dict[str, StackState | None] = {}
            for name in sorted(documents):
                state = self.backend.read(name)
                self.check_state(name, state, documents[name])
                states[name] = self._recovered(name, state)
            names = stack_order(documents, states)
            if operation == "destroy":
                names.reverse()
            self._check_producers(documents)
            known = {**self.states(), **{n: s for n, s in states.items() if s is not None}}
            plans: list[Plan] = []
            for name in names:
                state = states[name]
                upstream = Upstream(name, known, tuple(plans))
                plans.append(
                    self.plan(
                        name,
                        documents[name],
                        refresh=refresh,
                        state=state,
                        region=state.region if state else None,
                        upstream=upstream,
                    )
                )
            self._check_readers(plans, documents, known)
            if on_plan is not None:
                on_plan(plans)
            if not any(p.has_changes or p.adopting for p in plans):
                runs = []
                for plan in plans:
                    state = self._with_current_outputs(documents[plan.stack], states[plan.stack])
                    result = DeployResult(Status.OK, outputs=dict(state.outputs) if state else {})
                    self._record(plan, result, operation, unchanged=True)
                    runs.append(StackRun(plan, result))
                return runs
            if not confirm(plans):
                return [StackRun(p) for p in plans]
            results, holding = self._run_stacks(
                plans,
                documents,
                states,
                known,
                operation=operation,
                concurrency=concurrency,
                rollback=rollback,
            )
            runs = [StackRun(p, results[p.stack]) for p in plans if p.stack in results]
            held = {i: holding[r.plan.stack] for i, r in enumerate(runs) if r.plan.stack in holding}
            # Consumers are deployed: delete what they no longer use, consumers first.
            for index in sorted(held, reverse=True):
                executor, plan = held[index], runs[index].plan
                others = {n: s for n, s in self.states().items() if n != plan.stack}
                result = executor.finish_held(
                    concurrency=concurrency, hold=self._holder(plan.stack, others)
                )
                kept = self._kept(plan.stack, executor.held, others)
                for line in kept:
                    self.listener(Event("note", plan.stack, detail=line))
                result = attrs.evolve(result, kept=kept)
                self._record(plan, result, operation)
                runs[index] = StackRun(plan, result)
            return runs
        finally:
            for name in locked:
                self.backend.unlock(name, lock.id)

    def _run_stacks(
        self,
        plans: Sequence[Plan],
        documents: Mapping[str, Mapping[str, Any] | None],
        states: Mapping[str, StackState | None],
        known: Mapping[str, StackState],
        *,
        operation: str,
        concurrency: int,
        rollback: bool,
    ) -> tuple[dict[str, DeployResult], dict[str, Executor]]:
        """Apply each stack's plan as soon as the stacks it waits for are applied.

        A deploy waits for the stacks it reads from, a destroy for the stacks that read
        from it; stacks with no such relation run side by side (a stack per region),
        at most ``concurrency`` at once, each with up to ``concurrency`` operations in
        flight. The first stack that fails stops scheduling: the stacks running finish
        (each rolls back on its own), the others do not start. After Ctrl-C the stacks
        not started are reported as interrupted.

        Returns:
            The result of every stack that ran (or was interrupted before it started),
            and the executors whose held deletes wait for `finish_held`.
        """
        by_name = {plan.stack: plan for plan in plans}
        waits: dict[str, set[str]] = {name: set() for name in by_name}
        for consumer, producers in stack_dependencies(documents, states).items():
            for producer in producers & by_name.keys() if consumer in by_name else ():
                if operation == "destroy":
                    waits[producer].add(consumer)
                else:
                    waits[consumer].add(producer)
        # The states the stacks read each other's values from. Only a stack's own thread
        # reads its state from the backend again (once it is applied, so nothing writes
        # it then): a backend remembers what it read last per stack, and a read racing
        # the stack's own writes would make its next write look stale.
        latest = dict(known)
        guard = threading.Lock()
        results: dict[str, DeployResult] = {}
        holding: dict[str, Executor] = {}

        def run(name: str) -> None:
            plan = by_name[name]
            if not plan.has_changes and not plan.adopting:
                results[name] = DeployResult(Status.OK)
                return
            with guard:
                others = {n: s for n, s in latest.items() if n != name}
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
            hold = self._holder(name, others)
            result = executor.run(concurrency=concurrency, rollback=rollback, hold=hold)
            if executor.held and result.status is Status.OK:
                holding[name] = executor  # recorded after its held deletes
            else:
                self._record(plan, result, operation)
            results[name] = result
            if result.status is not Status.OK:
                raise _StackFailed(name)
            applied = self.backend.read(name)
            with guard:
                if applied is not None:
                    latest[name] = applied
                else:
                    latest.pop(name, None)

        position = {plan.stack: f"{index:08d}" for index, plan in enumerate(plans)}
        walked = walk(
            waits, run, concurrency=concurrency, stop=self.stop, order=position.__getitem__
        )
        for name in by_name:
            error = walked.errors.get(name)
            if error is not None and not isinstance(error, _StackFailed):
                raise error
        if self.stop.is_set() and not walked.errors:
            for name, outcome in walked.outcomes.items():
                if outcome is Outcome.SKIPPED:
                    results[name] = DeployResult(Status.INTERRUPTED)
        return results, holding

    def _holder(self, producer: str, others: Mapping[str, StackState]) -> Hold:
        """Holds back the delete of a producer's resource while another stack uses it."""

        def hold(key: str, resource: ResourceState) -> bool:
            return bool(readers(producer, key, resource, others))

        return hold

    def _kept(
        self, producer: str, held: Mapping[str, ResourceState], others: Mapping[str, StackState]
    ) -> tuple[str, ...]:
        """One line per resource whose delete is still held back: why, and how to finish."""
        lines: list[str] = []
        for key, resource in sorted(held.items()):
            what = f"{producer}/{key} ({resource.physical_id})"
            users = readers(producer, key, resource, others)
            if not users:
                lines.append(f"{what} is kept until what depends on it is deleted")
                continue
            stacks = _quoted(sorted({u.stack for u in users}))
            lines.append(
                f"{what} is kept: {_listed(users)} still uses it. Deploy {stacks} (its plan "
                f"re-points it), then deploy {producer!r} again to delete it"
            )
        return tuple(lines)

    def _check_readers(
        self,
        plans: Sequence[Plan],
        documents: Mapping[str, Mapping[str, Any] | None],
        states: Mapping[str, StackState],
    ) -> None:
        """Refuse a run that would delete what a stack outside it still uses.

        Stacks destroyed in the same run go first, and stacks deployed in the same run are
        re-pointed before the producer's deletes; any other stack (one left out with
        ``--stack``, or no longer in the code) would be left pointing at nothing. The old
        half of a replacement is kept instead of refused: the deploy may go on.

        Raises:
            PlanError: naming every such resource, its users, and how to proceed.
        """
        outside = {n: s for n, s in states.items() if n not in documents}
        found: list[tuple[str, str, ResourceState, list[Reader]]] = []
        for plan in plans:
            state = states.get(plan.stack)
            if state is None:
                continue
            for change in plan.changes:
                resource = state.resources.get(change.path)
                if change.action is not Action.DELETE or resource is None:
                    continue
                if not plan.destroy and StateKey.parse(change.path).old:
                    continue
                users = readers(plan.stack, change.path, resource, outside)
                if users:
                    found.append((plan.stack, change.path, resource, users))
        if not found:
            return
        producers = sorted({stack for stack, _p, _r, _u in found})
        consumers = sorted({u.stack for _s, _p, _r, users in found for u in users})
        lines = [
            f"{stack}/{path} ({resource.physical_id}) is used by {_listed(users)}"
            for stack, path, resource, users in found
        ]
        destroy = all(documents.get(p) is None for p in producers)
        app = self.app_path
        if destroy:
            how = (
                f"destroy {_quoted(consumers)} first ("
                + ", ".join(f"`infradsl destroy {app} --stack {c}`" for c in consumers)
                + f"), or together with {_quoted(producers)} (`infradsl destroy {app}` "
                "destroys every stack of the app, consumers first)"
            )
            verb = "destroying"
        else:
            how = (
                f"deploy {_quoted(consumers)} without those references first, or deploy "
                f"them in the same run (`infradsl deploy {app}` without --stack)"
            )
            verb = "deploying"
        raise PlanError(
            f"refused, nothing was changed: {verb} {_quoted(producers)} would delete "
            f"resources that {_quoted(consumers)} still "
            f"{'use' if len(consumers) > 1 else 'uses'}: {'; '.join(lines)}. To proceed, {how}"
        )

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
        # Asked once per type, not once per resource.
        types = {res.type for res in state.resources.values()}
        unknown_types = {t for t in types if not self._knows(t)}
        unknown = sorted(
            f"{path} ({res.type})"
            for path, res in state.resources.items()
            if res.type in unknown_types
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
        dead = wait_for_lock(
            self.backend, name, lock, timeout=self.lock_timeout, on_wait=self.on_lock_wait
        )
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
            refs = {r for r in document_references(doc) if r[0]}
            for stack, path, attribute in sorted(refs, key=str):
                assert stack is not None
                if stack == name:
                    continue
                if stack in documents:
                    producer_doc = documents[stack]
                    if producer_doc is None:
                        missing.append(
                            f"stack {name!r} reads {stack}/{path}.{attribute}, but {stack!r} "
                            "is destroyed in this run"
                        )
                    elif path not in producer_doc["resources"]:
                        missing.append(
                            f"stack {name!r} reads {stack}/{path}.{attribute}, but the code of "
                            f"{stack!r} no longer defines {path}: remove the reference from "
                            f"{name!r}, or keep {path} in {stack!r}"
                        )
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
            **self.record_extra,
            "summary": {k: v for k, v in plan.summary().items() if v and k != "no-op"},
            "result": "no changes" if unchanged else result.status.name.lower().replace("_", " "),
        }
        self.backend.append_history(plan.stack, record)
        self.listener(Event("note", plan.stack, detail=f"recorded {operation} in history"))


class _StackFailed(Exception):
    """A stack's apply did not end OK: stops scheduling the other stacks."""


def _quoted(names: Sequence[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _listed(users: Sequence[Reader]) -> str:
    return ", ".join(str(u) for u in users)
