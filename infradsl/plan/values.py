"""Synthesized values: finding the references inside them and resolving them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["UnresolvedError", "references", "resolve"]


class UnresolvedError(LookupError):
    """A reference points at something that has no value (yet)."""


def references(value: Any) -> Iterator[tuple[str | None, str, str]]:
    """Yield ``(stack or None, path, attribute)`` for every reference inside ``value``."""
    if isinstance(value, dict):
        if "ref" in value and isinstance(value["ref"], str):
            path, _, attribute = value["ref"].rpartition(".")
            yield value.get("stack"), path, attribute
            return
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


Lookup = Callable[[str | None, str, str], Any]


def resolve(value: Any, lookup: Lookup) -> Any:
    """Replace every reference with ``lookup(stack, path, attribute)`` and join the joins."""
    if isinstance(value, dict):
        if "ref" in value and isinstance(value["ref"], str):
            path, _, attribute = value["ref"].rpartition(".")
            return lookup(value.get("stack"), path, attribute)
        if set(value) == {"join"} and isinstance(value["join"], list):
            parts = [resolve(p, lookup) for p in value["join"]]
            return "".join("" if p is None else str(p) for p in parts)
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(item, lookup) for item in value]
    return value
