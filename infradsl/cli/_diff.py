"""Readable property diffs: full short values, lists and maps element by element,
security group rules as ``tcp 80 from 0.0.0.0/0``, long text line by line."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from infradsl.plan.change import OutputChange, PropertyDiff

__all__ = ["LONG", "diff_lines", "diff_notes", "output_line", "show"]

LONG = 80
"""Values longer than this (as shown) are not put on one line with the other side."""

_INDENT = "      "
_ITEM = "        "
_RULE_KEYS = frozenset({"protocol", "from_port", "to_port", "source"})


def show(value: Any) -> str:
    """A value as shown in plans: JSON, a reference as ``${Path.attr}``, a string with
    references inside as a string with ``${...}`` in it."""
    if value is None:
        return "(none)"
    if _is_ref(value):
        prefix = f"{value['stack']}:" if "stack" in value else ""
        return f"${{{prefix}{value['ref']}}}"
    if _is_join(value):
        return json.dumps(_join_text(value), ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and "ref" in value and set(value) <= {"ref", "stack"}


def _is_join(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"join"} and isinstance(value["join"], list)


def _join_text(value: Mapping[str, Any]) -> str:
    return "".join(p if isinstance(p, str) else show(p) for p in value["join"])


def _text(value: Any) -> str | None:
    """The text of a string value (a join with ``${...}``), or None if not text."""
    if isinstance(value, str):
        return value
    if _is_join(value):
        return _join_text(value)
    return None


def _element(value: Any, name: str) -> str:
    """One list element: a rule as ``tcp 80 from 0.0.0.0/0``, a map as ``key=value ...``."""
    if isinstance(value, dict) and not _is_ref(value) and not _is_join(value):
        if set(value) >= _RULE_KEYS:
            return _rule(value, egress=name == "egress")
        return " ".join(f"{k}={_bare(v)}" for k, v in sorted(value.items()) if v is not None)
    return _bare(value)


def _bare(value: Any) -> str:
    """Like `show`, without quotes around a plain word (an id, a CIDR)."""
    if isinstance(value, str) and value and not any(c.isspace() or c == '"' for c in value):
        return value
    return show(value)


def _rule(rule: Mapping[str, Any], *, egress: bool) -> str:
    protocol = str(rule["protocol"])
    low, high = rule["from_port"], rule["to_port"]
    if protocol in ("all", "-1"):
        text = "all traffic"
    elif protocol == "icmp":
        kind = "all" if low == -1 else f"type {low}"
        text = f"icmp {kind}" + ("" if high == -1 else f" code {high}")
    else:
        text = f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"
    text += f" {'to' if egress else 'from'} {_bare(rule['source'])}"
    if rule.get("description"):
        text += f" ({rule['description']})"
    return text


def _canonical(value: Any) -> str:
    """A key that ignores dict key order and absent (None) fields."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), sort_keys=True, default=str)


def diff_notes(diff: PropertyDiff) -> str:
    """``  (forces replacement, ...)`` after a property's name, or ``""``."""
    notes = []
    if diff.option:
        notes.append("option")
    if diff.forces_replacement:
        notes.append("forces replacement")
    if diff.drift:
        notes.append("changed outside infradsl")
    return f"  ({', '.join(notes)})" if notes else ""


def _head(diff: PropertyDiff) -> Text:
    line = Text(_INDENT)
    line.append(f"{diff.name}:", style="bold")
    line.append(diff_notes(diff), style="magenta")
    return line


def _item(sign: str, text: str) -> Text:
    style = {"+": "green", "-": "red", "~": "yellow"}[sign]
    return Text.assemble(_ITEM, (f"{sign} {text}", style))


def diff_lines(diff: PropertyDiff) -> list[Text]:
    """The lines of one property diff: one line when both sides are short, else a header
    and one ``+``/``-``/``~`` line per element, key or text line that changes."""
    old, new = diff.old, diff.new
    if diff.known_after_deploy:
        shown = show(old)
        line = Text(_INDENT)
        line.append(f"{diff.name}: ", style="bold")
        if len(shown) <= LONG:
            line.append(shown, style="red")
            line.append(" -> ")
        line.append("(known after deploy)", style="cyan")
        line.append(diff_notes(diff), style="magenta")
        return [line]
    if isinstance(old, list) or isinstance(new, list):
        items = _list_items(old, new, diff.name)
        if items is not None:
            return [_head(diff), *items]
    if _is_map(old) and _is_map(new) and (old or new):
        if set(old or {}) | set(new or {}) >= _RULE_KEYS:
            return [_head(diff), *_replaced(old, new, diff.name)]
        return [_head(diff), *_map_items(old or {}, new or {})]
    old_text, new_text = _text(old), _text(new)
    if old_text is not None and new_text is not None and ("\n" in old_text or "\n" in new_text):
        return [_head(diff), *_text_items(old_text, new_text)]
    old_shown, new_shown = show(old), show(new)
    if len(old_shown) <= LONG and len(new_shown) <= LONG:
        line = Text(_INDENT)
        line.append(f"{diff.name}: ", style="bold")
        line.append(old_shown, style="red")
        line.append(" -> ")
        line.append(new_shown, style="green")
        line.append(diff_notes(diff), style="magenta")
        return [line]
    return [_head(diff), _item("-", old_shown), _item("+", new_shown)]


def _is_map(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and not _is_ref(value) and not _is_join(value))


def _replaced(old: Any, new: Any, name: str) -> list[Text]:
    lines = []
    if old is not None:
        lines.append(_item("-", _element(old, name)))
    if new is not None:
        lines.append(_item("+", _element(new, name)))
    return lines


def _list_items(old: Any, new: Any, name: str) -> list[Text] | None:
    """``-`` for elements only in ``old``, ``+`` for elements only in ``new`` (order
    ignored, as AWS returns rules and ids in any order); None if a side is not a list."""
    before = old if isinstance(old, list) else [] if old is None else None
    after = new if isinstance(new, list) else [] if new is None else None
    if before is None or after is None:
        return None
    remaining = Counter(_canonical(v) for v in after)
    removed = []
    for value in before:
        key = _canonical(value)
        if remaining[key]:
            remaining[key] -= 1
        else:
            removed.append(value)
    kept = Counter(_canonical(v) for v in before)
    added = []
    for value in after:
        key = _canonical(value)
        if kept[key]:
            kept[key] -= 1
        else:
            added.append(value)
    lines = [_item("-", _element(v, name)) for v in removed]
    lines += [_item("+", _element(v, name)) for v in added]
    if not lines:
        lines.append(Text.assemble(_ITEM, ("(same elements, new order)", "yellow")))
    return lines


def _map_items(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Text]:
    lines = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in new:
            lines.append(_item("-", f"{key} = {show(old[key])}"))
        elif key not in old:
            lines.append(_item("+", f"{key} = {show(new[key])}"))
        elif _canonical(old[key]) != _canonical(new[key]):
            lines.append(_item("~", f"{key}: {show(old[key])} -> {show(new[key])}"))
    return lines


def _text_items(old: str, new: str) -> list[Text]:
    """Changed lines of a multi-line text (user data, a script)."""
    lines = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith(("- ", "+ ")):
            lines.append(_item(line[0], line[2:]))
    return lines


def output_line(change: OutputChange) -> Text:
    """One output of the plan: ``+ Url = "https://..."`` / ``~ Ip: "a" -> "b"`` /
    ``- Old = "x"``, with the description as a comment."""
    sign = change.action.value
    style = {"+": "green", "~": "yellow", "-": "red"}.get(sign, "dim")
    line = Text("  ")
    line.append(f"{sign:<3} ", style=f"bold {style}")
    line.append(change.name, style=style)
    new = "(known after deploy)" if change.known_after_deploy else show(change.new)
    if sign == "+":
        line.append(f" = {new}")
    elif sign == "-":
        line.append(f" = {show(change.old)}")
    elif sign == "~":
        line.append(": ")
        line.append(show(change.old), style="red")
        line.append(" -> ")
        line.append(new, style="cyan" if change.known_after_deploy else "green")
    else:
        line.append(f" = {show(change.new)}")
    if change.description:
        line.append(f"  # {change.description}", style="dim")
    return line
