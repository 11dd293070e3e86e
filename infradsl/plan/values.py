"""Synthesized values: finding the references inside them and resolving them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infradsl.state.model import ResourceState, StackState

__all__ = [
    "UnresolvedError",
    "document_references",
    "references",
    "resolve",
    "resolve_outputs",
    "state_lookup",
]


class UnresolvedError(LookupError):
    """A reference points at something that has no value (yet)."""


def references(value: Any) -> Iterator[tuple[str | None, str, str]]:
    """Yield ``(stack or None, path, attribute)`` for every reference inside ``value``."""
    # Called for every property of every resource when planning, and for whole documents:
    # a scalar costs one test, and containers are walked by plain recursion into one list
    # (a generator per nested value cost twice as much).
    if not isinstance(value, (dict, list)):
        return iter(())
    found: list[tuple[str | None, str, str]] = []
    _collect(value, found)
    return iter(found)


def document_references(document: Mapping[str, Any]) -> list[tuple[str | None, str, str]]:
    """`references` of a synthesized document's resources and outputs, in order.

    Only a resource's ``properties`` can hold references (its ``type``, ``depends_on`` and
    ``options`` are names), so only they are walked: a third fewer containers to visit,
    for whole documents read by every plan.
    """
    found: list[tuple[str | None, str, str]] = []
    for entry in document["resources"].values():
        _collect_items(entry["properties"].values(), found)
    _collect_items(document["outputs"].values(), found)
    return found


def _collect(value: Any, found: list[tuple[str | None, str, str]]) -> None:
    if isinstance(value, dict):
        ref = value.get("ref")
        if isinstance(ref, str):
            path, _, attribute = ref.rpartition(".")
            found.append((value.get("stack"), path, attribute))
            return
        value = value.values()
    _collect_items(value, found)


def _collect_items(items: Iterable[Any], found: list[tuple[str | None, str, str]]) -> None:
    # A reference (the most common nested value) is read here, without a call; empty
    # containers are skipped.
    for item in items:
        if isinstance(item, dict):
            ref = item.get("ref")
            if isinstance(ref, str):
                path, _, attribute = ref.rpartition(".")
                found.append((item.get("stack"), path, attribute))
            elif item:
                _collect_items(item.values(), found)
        elif isinstance(item, list) and item:
            _collect_items(item, found)


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


def resolve_outputs(outputs: Mapping[str, Any], lookup: Lookup) -> dict[str, Any]:
    """A document's outputs resolved; an output that cannot be resolved yet is ``None``."""
    resolved: dict[str, Any] = {}
    for name, value in outputs.items():
        try:
            resolved[name] = resolve(value, lookup)
        except UnresolvedError:
            resolved[name] = None
    return resolved


def state_lookup(
    stack: str, resources: Mapping[str, ResourceState], others: Mapping[str, StackState]
) -> Lookup:
    """Resolve references from a stack's resources (read live: the mapping may grow) and
    from the states of the stacks it reads from.

    Raises (from the returned function):
        UnresolvedError: the resource or attribute has no value (yet).
    """

    def lookup(ref_stack: str | None, path: str, attribute: str) -> Any:
        if ref_stack is None or ref_stack == stack:
            res = resources.get(path)
            if res is None:
                raise UnresolvedError(f"{path} has not been deployed")
            if attribute not in res.attributes:
                raise UnresolvedError(f"{path} has no attribute {attribute!r}")
            return res.attributes[attribute]
        producer = others.get(ref_stack)
        if producer is None or path not in producer.resources:
            raise UnresolvedError(
                f"stack {ref_stack!r} has not deployed {path} (this stack reads "
                f"{path}.{attribute} from it): deploy {ref_stack!r} first"
            )
        return producer.resources[path].attributes.get(attribute)

    return lookup
