"""Python source text for generated code: expressions as small values, laid out the way
black and ``ruff format`` lay them out (so a formatter leaves generated files alone).

Example:
    >>> print(statement(Call("ec2.Vpc", (Name("self"), "Vpc"), (("cidr_block", "10.0.0.0/16"),)),
    ...                 indent=8, head="vpc = "))
            vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

__all__ = ["WIDTH", "Call", "Name", "comment_lines", "literal", "statement"]

WIDTH = 88
"""Line length of generated code (black's and ruff format's default)."""


@attrs.frozen
class Name:
    """Code written as is: a variable, ``self``, ``db.arn``, an f-string."""

    text: str


@attrs.frozen
class Call:
    """``func(args..., key=value...)``."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


def literal(value: str) -> str:
    """A string literal as ruff format writes it: double quotes unless that needs escapes."""
    if '"' in value and "'" not in value:
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _flat(node: Any) -> str:
    if isinstance(node, Name):
        return node.text
    if isinstance(node, Call):
        return f"{node.func}({', '.join(_flat(i) for i in _items(node))})"
    if isinstance(node, list):
        return f"[{', '.join(_flat(i) for i in node)}]"
    if isinstance(node, dict):
        return "{" + ", ".join(f"{literal(k)}: {_flat(v)}" for k, v in node.items()) + "}"
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], _Key):
        return f"{node[0].text}{_flat(node[1])}"
    if isinstance(node, str):
        return literal(node)
    return repr(node)


@attrs.frozen
class _Key:
    """The ``name=`` or ``"key": `` in front of an item."""

    text: str


def _items(node: Any) -> list[Any]:
    if isinstance(node, Call):
        return [*node.args, *((_Key(f"{k}="), v) for k, v in node.kwargs)]
    if isinstance(node, list):
        return list(node)
    if isinstance(node, dict):
        return [(_Key(f"{literal(k)}: "), v) for k, v in node.items()]
    return []


def _brackets(node: Any) -> tuple[str, str]:
    if isinstance(node, Call):
        return f"{node.func}(", ")"
    if isinstance(node, list):
        return "[", "]"
    return "{", "}"


def _layout(node: Any, indent: int, head: str, tail: str) -> list[str]:
    pad = " " * indent
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], _Key):
        return _layout(node[1], indent, head + node[0].text, tail)
    one = f"{pad}{head}{_flat(node)}{tail}"
    items = _items(node)
    if len(one) <= WIDTH or not items:
        return [one]
    opening, closing = _brackets(node)
    inner = " " * (indent + 4)
    body = ", ".join(_flat(i) for i in items)
    if len(inner) + len(body) <= WIDTH:
        return [f"{pad}{head}{opening}", f"{inner}{body}", f"{pad}{closing}{tail}"]
    lines = [f"{pad}{head}{opening}"]
    # One item is split inside its own brackets, without a trailing comma (as black does).
    comma = "," if len(items) > 1 else ""
    for item in items:
        lines.extend(_layout(item, indent + 4, "", comma))
    lines.append(f"{pad}{closing}{tail}")
    return lines


def statement(node: Any, *, indent: int = 0, head: str = "") -> str:
    """One statement (``head`` is what precedes the expression, e.g. ``"vpc = "``).

    A line that cannot be split (a long string) is marked ``# noqa: E501``.
    """
    lines = _layout(node, indent, head, "")
    return "\n".join(
        f"{line}  # noqa: E501" if len(line) > WIDTH and '"' in line else line for line in lines
    )


def comment_lines(text: str, *, indent: int = 0, prefix: str = "# ") -> list[str]:
    """``text`` as comment lines wrapped at `WIDTH` (words are never split)."""
    pad = " " * indent
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        continuation = "  " if paragraph.startswith("- ") else ""
        line = ""
        for word in words:
            candidate = f"{line} {word}" if line else word
            if line and len(pad) + len(prefix) + len(candidate) > WIDTH:
                lines.append(f"{pad}{prefix}{line}".rstrip())
                line = continuation + word
            else:
                line = candidate
        lines.append(f"{pad}{prefix}{line}".rstrip())
    return lines


def joined(parts: Sequence[str]) -> str:
    """Lines joined with newlines and a final newline."""
    return "\n".join(parts) + "\n"
