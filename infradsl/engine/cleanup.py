"""The cleanup phase: what a plan removes, and the old halves of replacements, deleted in
reverse dependency order once everything else succeeded."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from infradsl.engine._calls import Calls, message
from infradsl.engine.journal import Op
from infradsl.engine.walker import walk
from infradsl.plan.change import Action, ResourceChange
from infradsl.state.model import ResourceState, StateKey

__all__ = ["Cleanup", "Hold"]

Hold = Callable[[str, ResourceState], bool]
"""``(state key, resource) -> True`` to keep a doomed resource for now (another stack
still uses it); the key is a logical id, or ``path#old`` for the old half of a replacement."""


class Cleanup:
    """Forgets and deletes; holds back what other stacks still use.

    Args:
        calls: the run's handler calls (and through them its journal).
    """

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        # Doomed resources whose delete waits until the stacks that use them are deployed
        # (see `Executor.finish_held`); they stay tracked in state meanwhile.
        self.held: dict[StateKey, ResourceState] = {}

    def run(
        self, changes: Mapping[str, ResourceChange], concurrency: int, hold: Hold | None
    ) -> tuple[list[tuple[str, str]], bool]:
        """Forget and delete what the plan removes, and the old halves of replacements.

        Returns the errors, and whether every delete ran (not when a stop came first)."""
        journal = self.calls.journal
        doomed: dict[StateKey, ResourceState] = {}
        for path, change in changes.items():
            if change.action is Action.FORGET:
                with journal.lock:
                    before = journal.resources.get(path)
                journal.record(Op.FORGET, path, before, None, path)
                self.calls.emit("done", path, "forget", change.type, "left in the cloud")
            elif change.action is Action.DELETE:
                # Also an old half that an earlier run left: its path is then `path#old`.
                doomed[StateKey.parse(path)] = journal.resources[path]
        with journal.lock:
            for path, old in journal.retired.items():
                doomed[StateKey(path, old=True)] = old
        doomed.update(self.held)  # what an earlier pass held back
        self.held = _hold_back(doomed, hold)
        if not doomed:
            return [], True
        by_path = {key.path: key for key in doomed}
        keys = {str(key): key for key in doomed}  # the walk's nodes are the keys in state
        # X waits for every doomed resource that depended on X.
        deps: dict[str, set[str]] = {str(key): set() for key in doomed}
        for key, res in doomed.items():
            for dep in res.depends_on:
                target = by_path.get(dep)
                if target is not None and target != key:
                    deps[str(target)].add(str(key))
        _break_cycles(deps)
        result = walk(
            deps,
            lambda node: self.calls.delete_reported(keys[node], doomed[keys[node]]),
            concurrency=concurrency,
            stop=self.calls.stop,
        )
        errors = [(keys[node].path, message(e)) for node, e in sorted(result.errors.items())]
        return errors, result.ok


def _hold_back(
    doomed: dict[StateKey, ResourceState], hold: Hold | None
) -> dict[StateKey, ResourceState]:
    """Take out of ``doomed`` what ``hold`` says other stacks still use, and what those
    depend on (it can only be deleted after them)."""
    if hold is None:
        return {}
    held = {key for key, res in doomed.items() if hold(str(key), res)}
    by_path = {key.path: key for key in doomed}
    todo = list(held)
    while todo:
        for dep in doomed[todo.pop()].depends_on:
            key = by_path.get(dep)
            if key is not None and key not in held:
                held.add(key)
                todo.append(key)
    return {key: doomed.pop(key) for key in sorted(held, key=str)}


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
