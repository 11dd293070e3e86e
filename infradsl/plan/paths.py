"""Where two synthesized values differ, as JSON-pointer-like paths: ``ingress/2/from_port``.

A path starts with the property name; list items are named by position, map entries by
key (``/`` and ``~`` in a key are written ``~1`` and ``~0``, as in RFC 6901). References
(``{"ref": ...}``) and joins are single values: a path never goes inside one. A map entry
that is absent and one that is ``None`` are the same.

Create-only paths of a `~infradsl.core.typeinfo.TypeInfo` are patterns of the same form
where ``*`` stands for any list item or map key (``ingress/*/protocol``).

Example:
    >>> old = {"ingress": [{"from_port": 80, "to_port": 80}]}
    >>> new = {"ingress": [{"from_port": 443, "to_port": 443}]}
    >>> diff_paths("rules", old, new)
    ('rules/ingress/0/from_port', 'rules/ingress/0/to_port')
    >>> changed_paths(("rules", "ingress", "*", "to_port"), old, new)
    ['rules/ingress/0/to_port']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["UNKNOWN", "changed_paths", "diff_paths", "escape", "mask_references"]


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


UNKNOWN: Any = _Marker("UNKNOWN")
"""A value known only after the deploy (a reference to a resource being replaced): it
differs from every value."""

_ABSENT: Any = _Marker("ABSENT")


def escape(key: str) -> str:
    """A map key as one path segment (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return key.replace("~", "~0").replace("/", "~1")


def _is_value(value: Any) -> bool:
    """A reference or a join: compared whole, never entered."""
    return isinstance(value, dict) and (
        ("ref" in value and set(value) <= {"ref", "stack"}) or set(value) == {"join"}
    )


def _same(old: Any, new: Any) -> bool:
    if old is UNKNOWN or new is UNKNOWN:
        return False
    if old is None or old is _ABSENT:
        return new is None or new is _ABSENT
    return bool(old == new)


def diff_paths(name: str, old: Any, new: Any) -> tuple[str, ...]:
    """The deepest paths at which ``old`` and ``new`` (the values of property ``name``)
    differ: into maps by key and into lists by position, both sides at once; a value
    added, removed or replaced by one of another kind is one path. ``(name,)`` when the
    values differ only in how they say nothing (an absent entry and ``None``)."""
    found: list[str] = []
    _diff(old, new, escape(name), found)
    if not found and old != new:
        return (escape(name),)
    return tuple(found)


def _diff(old: Any, new: Any, at: str, found: list[str]) -> None:
    if _same(old, new):
        return
    if (
        isinstance(old, dict)
        and isinstance(new, dict)
        and not _is_value(old)
        and not _is_value(new)
    ):
        for key in sorted(set(old) | set(new), key=str):
            _diff(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{at}/{escape(str(key))}", found)
        return
    if isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            _diff(
                old[index] if index < len(old) else _ABSENT,
                new[index] if index < len(new) else _ABSENT,
                f"{at}/{index}",
                found,
            )
        return
    found.append(at)


def changed_paths(pattern: Sequence[str], old: Any, new: Any) -> list[str]:
    """The concrete paths matching ``pattern`` (split at ``/``; its first part is the
    property, ``old`` and ``new`` are the property's values) whose values differ.

    An item that exists on one side only differs when it holds a value at the pattern's
    place; inside a value known only after the deploy (`UNKNOWN`) everything differs.
    """
    found: list[str] = []
    _match(tuple(pattern[1:]), old, new, escape(pattern[0]), found)
    return found


def _match(rest: tuple[str, ...], old: Any, new: Any, at: str, found: list[str]) -> None:
    if not rest:
        if not _same(old, new):
            found.append(at)
        return
    head, tail = rest[0], rest[1:]
    if head == "*":
        keys = _keys(old) | _keys(new)
        if not keys and (old is UNKNOWN or new is UNKNOWN):
            found.append(at)  # what is inside is not known yet
            return
        ordered: list[Any] = sorted(keys, key=lambda k: (isinstance(k, str), k))
    else:
        key = head.replace("~1", "/").replace("~0", "~")
        ordered = [int(key) if key.isdigit() and _is_list(old, new) else key]
    for key in ordered:
        _match(
            tail,
            _child(old, key),
            _child(new, key),
            f"{at}/{escape(str(key))}",
            found,
        )


def _is_list(old: Any, new: Any) -> bool:
    return isinstance(old, list) or isinstance(new, list)


def _keys(value: Any) -> set[Any]:
    if isinstance(value, list):
        return set(range(len(value)))
    if isinstance(value, dict) and not _is_value(value):
        return set(value)
    return set()


def _child(value: Any, key: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, list) and isinstance(key, int):
        return value[key] if key < len(value) else _ABSENT
    if isinstance(value, dict) and not _is_value(value):
        return value.get(key, _ABSENT)
    return _ABSENT


def mask_references(value: Any, changing: Callable[[str | None, str], bool]) -> Any:
    """``value`` with `UNKNOWN` in place of each reference ``changing(stack, path)``
    accepts, and of each join that holds one."""
    if isinstance(value, dict):
        ref = value.get("ref")
        if isinstance(ref, str) and set(value) <= {"ref", "stack"}:
            path = ref.rpartition(".")[0]
            return UNKNOWN if changing(value.get("stack"), path) else value
        if set(value) == {"join"} and isinstance(value["join"], list):
            parts = [mask_references(p, changing) for p in value["join"]]
            return UNKNOWN if any(p is UNKNOWN for p in parts) else value
        return {k: mask_references(v, changing) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_references(v, changing) for v in value]
    return value
