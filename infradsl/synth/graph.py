"""Deterministic cycle reports over the dependency graph.

A graph without cycles (the usual case) is recognized in linear time in plain Python;
networkx is imported only to report the cycles of a graph that has some.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["find_cycles", "kahn_order"]


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Return one cycle per strongly connected component, in a canonical form.

    ``edges`` maps a node to the nodes it depends on. Each cycle starts at its smallest
    node, follows sorted neighbours along a shortest path back, and the list is sorted:
    the same text on every run and every hash seed.
    """
    if _is_acyclic(edges):
        return []
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(edges)
    graph.add_edges_from((node, dep) for node, deps in edges.items() for dep in deps)
    if nx.is_directed_acyclic_graph(graph):
        return []
    cycles: list[list[str]] = []
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            (node,) = component
            if graph.has_edge(node, node):
                cycles.append([node, node])
            continue
        start = min(component)
        cycles.append(_shortest_cycle(graph, start, component))
    return sorted(cycles)


def kahn_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes so that each comes after the nodes it depends on, ties by name (Kahn's
    algorithm with a heap). Nodes on a cycle, and those after them, are left out, so the
    graph is acyclic exactly when every node is listed.

    ``edges`` maps a node to the nodes it depends on; a node that appears only as a
    dependency has no edges of its own and is ignored. Counts of unmet dependencies are
    kept, not sets of them: one int per node at 100,000 nodes.
    """
    import heapq

    waiting: dict[str, int] = {}
    dependents: dict[str, list[str]] = {}
    ready: list[str] = []
    for node, deps in edges.items():
        count = 0
        # (Synthesis passes sets: no copy to drop duplicates.)
        for dep in deps if isinstance(deps, (set, frozenset)) else set(deps):
            if dep in edges:
                count += 1
                if dep in dependents:
                    dependents[dep].append(node)
                else:
                    dependents[dep] = [node]
        if count:
            waiting[node] = count
        else:
            ready.append(node)
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependent in dependents.get(node, ()):
            left = waiting[dependent] - 1
            waiting[dependent] = left
            if not left:
                heapq.heappush(ready, dependent)
    return order


def _is_acyclic(edges: Mapping[str, Iterable[str]]) -> bool:
    """True when ``edges`` has no cycle (a self-edge is a cycle)."""
    return len(kahn_order(edges)) == len(edges)


def _shortest_cycle(graph: nx.DiGraph[str], start: str, component: set[str]) -> list[str]:
    parent: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.successors(node)):
            if nxt not in component:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError("a strongly connected component always has a cycle")
