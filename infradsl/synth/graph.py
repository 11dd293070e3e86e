"""Deterministic cycle reports over the dependency graph (networkx)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["find_cycles"]


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Return one cycle per strongly connected component, in a canonical form.

    ``edges`` maps a node to the nodes it depends on. Each cycle starts at its smallest
    node, follows sorted neighbours along a shortest path back, and the list is sorted:
    the same text on every run and every hash seed.
    """
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
