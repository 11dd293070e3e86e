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

__all__ = ["check_stateful_replacements", "data_holders", "describe_migration"]


def describe_migration(spec: Mapping[str, Any]) -> str:
    """How a plan names a migration: ``command 'sh migrate.sh'`` or ``hook app:move``."""
    if spec.get("command"):
        return f"command {spec['command']!r}"
    return f"hook {spec.get('hook')}"


def data_holders(path: str, desired: Mapping[str, Any]) -> list[str]:
    """The resources of a document that hold the data of resource ``path`` (sorted)."""
    holders = []
    for other, entry in desired.items():
        info = try_find_type_info(entry.get("type", ""))
        if info is None or not info.data_of:
            continue
        props = entry.get("properties", {})
        if any(_refers_to(props.get(name), path) for name in info.data_of):
            holders.append(other)
    return sorted(holders)


def _refers_to(value: Any, path: str) -> bool:
    return isinstance(value, Mapping) and value.get("ref") == f"{path}.id" and "stack" not in value


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
        spec = props.get(info.migration)
        holders = data_holders(change.path, desired)
        if isinstance(spec, Mapping) and (spec.get("command") or spec.get("hook")):
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
