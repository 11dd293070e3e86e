"""Replacements of resources that hold data: said in the plan, refused without a migration.

A resource holds data when its type's ``stateful`` flag property is set
(``ec2.Instance(..., stateful=True)``) or when another resource holds its data through one
of its type's ``data_of`` properties (``ec2.Volume(..., instance=server)``). Replacing it
without the migration its type declares (`TypeInfo.migration`) would throw that data
away: the plan is refused, with the way out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from infradsl.core.typeinfo import try_find_type_info
from infradsl.plan.change import Action, PlanError, ResourceChange

__all__ = [
    "check_stateful_replacements",
    "data_holders",
    "describe_migration",
    "migration_of",
]


def describe_migration(spec: Mapping[str, Any]) -> str:
    """How a plan names a migration: ``command 'sh migrate.sh'`` or ``hook app:move``."""
    if spec.get("command"):
        return f"command {spec['command']!r}"
    return f"hook {spec.get('hook')}"


def migration_of(type_name: str, entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The migration a document entry declares (in its type's `TypeInfo.migration`
    property), or ``None``."""
    info = try_find_type_info(type_name)
    if info is None or info.migration is None:
        return None
    spec = entry.get("properties", {}).get(info.migration)
    if isinstance(spec, Mapping) and (spec.get("command") or spec.get("hook")):
        return spec
    return None


def data_holders(path: str, desired: Mapping[str, Any]) -> list[str]:
    """The resources of a document that hold the data of resource ``path`` (sorted)."""
    return _holders_by_target(desired).get(path, [])


def _holders_by_target(desired: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per resource path, the resources of a document that hold its data (sorted): one
    pass over the document, however many replacements ask."""
    found: dict[str, list[str]] = {}
    types: dict[str, tuple[str, ...]] = {}  # type name -> its data_of (one lookup each)
    for other, entry in desired.items():
        type_name = entry.get("type", "")
        data_of = types.get(type_name)
        if data_of is None:
            info = try_find_type_info(type_name)
            data_of = types[type_name] = info.data_of if info is not None else ()
        if not data_of:
            continue
        props = entry.get("properties", {})
        for name in data_of:
            target = _target(props.get(name))
            if target is not None and other not in found.get(target, ()):
                found.setdefault(target, []).append(other)
    return {target: sorted(holders) for target, holders in found.items()}


def _target(value: Any) -> str | None:
    """The resource a whole reference to an ``id`` of this stack names, else ``None``."""
    if isinstance(value, Mapping) and "stack" not in value:
        ref = value.get("ref")
        if isinstance(ref, str) and ref.endswith(".id"):
            return ref[: -len(".id")]
    return None


def check_stateful_replacements(
    changes: Sequence[ResourceChange], desired: Mapping[str, Any]
) -> list[ResourceChange]:
    """Name the migration of each replacement that has one; refuse those that need one.

    Returns:
        ``changes``, a replacement with a migration getting the reason
        ``with migration: ...``.

    Raises:
        PlanError: a resource that holds data would be replaced without a migration.
    """
    out: list[ResourceChange] = []
    refused: list[str] = []
    by_target: dict[str, list[str]] | None = None  # built when a replacement asks
    for change in changes:
        entry = desired.get(change.path)
        info = try_find_type_info(change.type)
        if change.action is not Action.REPLACE or entry is None or info is None:
            out.append(change)
            continue
        if info.migration is None:
            out.append(change)
            continue
        props = entry.get("properties", {})
        spec = migration_of(change.type, entry)
        if by_target is None:
            by_target = _holders_by_target(desired)
        holders = by_target.get(change.path, [])
        if spec is not None:
            moving = f", moving {', '.join(holders)}" if holders else ""
            reason = f"with migration: {describe_migration(spec)}{moving}"
            out.append(attrs.evolve(change, reasons=(*change.reasons, reason)))
            continue
        stateful = bool(info.stateful and props.get(info.stateful))
        if stateful or holders:
            why = "is stateful" if stateful else f"has its data on {', '.join(holders)}"
            because = f" ({'; '.join(change.reasons)})" if change.reasons else ""
            refused.append(f"{change.path} {why} and would be replaced{because}")
        out.append(change)
    if refused:
        raise PlanError(
            f"refused, nothing was changed: {'; '.join(refused)}, without a migration its "
            "data would be lost. Declare how the data moves to the new server, e.g. "
            "migration=ec2.Migration(command='./migrate.sh') (data volumes move on their "
            "own before it runs), or, to discard the data, remove stateful=True and detach "
            "its data volumes (deploy), then make the change"
        )
    return out
