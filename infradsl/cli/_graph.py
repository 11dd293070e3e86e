"""Text renderings of the dependency graph: tree, Graphviz dot and Mermaid."""

from __future__ import annotations

from typing import Any

__all__ = ["render_dot", "render_mermaid", "render_tree"]


def render_tree(documents: dict[str, dict[str, Any]]) -> str:
    """The construct tree of each stack, with each resource's type and dependencies."""
    lines: list[str] = []
    for name, doc in documents.items():
        lines.append(f"{name} ({doc['region']})")
        resources: dict[str, Any] = doc["resources"]
        tree: dict[str, Any] = {}
        for path in resources:
            node = tree
            for part in path.split("/"):
                node = node.setdefault(part, {})
        _tree_lines(tree, "", "", resources, lines)
        for out in doc["outputs"]:
            lines.append(f"  output {out}")
    return "\n".join(lines) + "\n"


def _tree_lines(
    tree: dict[str, Any], prefix: str, path: str, resources: dict[str, Any], lines: list[str]
) -> None:
    items = list(tree.items())
    for index, (part, children) in enumerate(items):
        last = index == len(items) - 1
        full = f"{path}/{part}" if path else part
        label = part
        entry = resources.get(full)
        if entry is not None:
            label += f"  [{entry['type']}]"
            if entry["depends_on"]:
                label += "  <- " + ", ".join(entry["depends_on"])
        lines.append(f"{prefix}{'└── ' if last else '├── '}{label}")
        _tree_lines(children, prefix + ("    " if last else "│   "), full, resources, lines)


def render_dot(documents: dict[str, dict[str, Any]]) -> str:
    """Graphviz: one cluster per stack; an edge runs from a dependency to its dependent."""
    lines = ["digraph infradsl {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for index, (name, doc) in enumerate(documents.items()):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f'    label="{name} ({doc["region"]})";')
        for path, entry in doc["resources"].items():
            lines.append(f'    "{name}/{path}" [label="{path}\\n{entry["type"]}"];')
        lines.append("  }")
        for path, entry in doc["resources"].items():
            for dep in entry["depends_on"]:
                lines.append(f'  "{name}/{dep}" -> "{name}/{path}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(documents: dict[str, dict[str, Any]]) -> str:
    """Mermaid flowchart: one subgraph per stack; arrows run in deploy order."""
    ids: dict[str, str] = {}

    def node_id(key: str) -> str:
        return ids.setdefault(key, f"n{len(ids)}")

    lines = ["flowchart LR"]
    for name, doc in documents.items():
        lines.append(f'  subgraph {node_id("stack:" + name)}["{name} ({doc["region"]})"]')
        for path, entry in doc["resources"].items():
            lines.append(f'    {node_id(name + "/" + path)}["{path}<br/>{entry["type"]}"]')
        lines.append("  end")
        for path, entry in doc["resources"].items():
            for dep in entry["depends_on"]:
                lines.append(f"  {node_id(name + '/' + dep)} --> {node_id(name + '/' + path)}")
    return "\n".join(lines) + "\n"
