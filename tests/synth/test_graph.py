"""Cycle reports: the plain-Python acyclicity check agrees with networkx."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from infradsl.synth.graph import _is_acyclic, find_cycles

NODES = st.sampled_from("ABCDEFG")
EDGES = st.dictionaries(NODES, st.sets(st.sampled_from("ABCDEFGXY"), max_size=4), max_size=7)


@settings(max_examples=300, deadline=None)
@given(EDGES)
def test_the_acyclicity_check_agrees_with_networkx(edges: dict[str, set[str]]) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(edges)
    graph.add_edges_from((node, dep) for node, deps in edges.items() for dep in deps)
    assert _is_acyclic(edges) == nx.is_directed_acyclic_graph(graph)
    assert (find_cycles(edges) == []) == nx.is_directed_acyclic_graph(graph)


def test_a_self_edge_is_a_cycle() -> None:
    assert find_cycles({"A": ["A"], "B": []}) == [["A", "A"]]


def test_a_cycle_is_reported_from_its_smallest_node() -> None:
    assert find_cycles({"C": ["A"], "A": ["B"], "B": ["C"], "D": ["C"]}) == [["A", "B", "C", "A"]]


def test_an_acyclic_graph_is_checked_without_importing_networkx() -> None:
    code = (
        "import sys\n"
        "from infradsl.synth.graph import find_cycles\n"
        "assert find_cycles({'A': ['B'], 'B': ['C'], 'C': [], 'D': ['A', 'C']}) == []\n"
        "print('networkx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
