"""Plans as plain data: per resource an action, the property diffs and the reasons."""

from __future__ import annotations

import enum
from collections import Counter
from typing import TYPE_CHECKING, Any

import attrs

from infradsl.errors import InfraDslError

if TYPE_CHECKING:
    from infradsl.plan.lookup import LookedUp

__all__ = ["Action", "Plan", "PlanError", "PropertyDiff", "ResourceChange"]


class PlanError(InfraDslError):
    """The plan is refused (a protected resource would be deleted or replaced)."""


class Action(enum.Enum):
    """What happens to one resource; the value is the symbol shown in plans."""

    CREATE = "+"
    UPDATE = "~"
    REPLACE = "-/+"
    DELETE = "-"
    FORGET = "-?"
    NOOP = " "

    @property
    def verb(self) -> str:
        """``create``, ``update``, ``replace``, ``delete``, ``forget`` or ``no-op``."""
        return "no-op" if self is Action.NOOP else self.name.lower()


@attrs.frozen
class PropertyDiff:
    """One property that changes.

    Attributes:
        name: the property name.
        old: the deployed value (``None`` when absent).
        new: the desired value (``None`` when removed).
        forces_replacement: this change replaces the resource.
        known_after_deploy: the new value depends on a resource being (re)created.
        drift: the value was changed outside infradsl (old is what the cloud has).
    """

    name: str
    old: Any
    new: Any
    forces_replacement: bool = False
    known_after_deploy: bool = False
    drift: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return attrs.asdict(self)


@attrs.frozen
class ResourceChange:
    """The planned change of one resource.

    Attributes:
        path: the logical id.
        type: the resource type name.
        action: what happens.
        diffs: the property changes (empty for create and delete).
        reasons: why (e.g. ``'image' forces replacement``, ``deleted outside infradsl``).
        previous_path: the old logical id when renamed through an alias.
        missing: the resource is gone from the cloud; it is created again.
    """

    path: str
    type: str
    action: Action
    diffs: tuple[PropertyDiff, ...] = ()
    reasons: tuple[str, ...] = ()
    previous_path: str | None = None
    missing: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "path": self.path,
            "type": self.type,
            "action": self.action.verb,
            "diffs": [d.to_json() for d in self.diffs],
            "reasons": list(self.reasons),
            "previous_path": self.previous_path,
            "missing": self.missing,
        }


@attrs.frozen
class Plan:
    """The plan of one stack.

    Attributes:
        stack: the stack name.
        region: its region.
        changes: one change per resource, in dependency order (deletes last).
        notes: things to say before the changes (e.g. the local cloud was restarted).
        destroy: this plan destroys the stack.
        lookups: the existing resources looked up for it (never changed by it).
    """

    stack: str
    region: str
    changes: tuple[ResourceChange, ...]
    notes: tuple[str, ...] = ()
    destroy: bool = False
    lookups: tuple[LookedUp, ...] = ()

    @property
    def has_changes(self) -> bool:
        """True when any resource changes."""
        return any(c.action is not Action.NOOP for c in self.changes)

    def summary(self) -> dict[str, int]:
        """Counts per action verb (``create``, ``update``...), zeros included."""
        counts = Counter(c.action.verb for c in self.changes)
        return {a.verb: counts.get(a.verb, 0) for a in Action}

    def confirmation_reasons(self) -> list[str]:
        """Why a human should confirm: destructive or permission-widening changes."""
        reasons: list[str] = []
        for c in self.changes:
            if c.action in (Action.DELETE, Action.REPLACE):
                reasons.append(
                    f"{c.path} will be {'deleted' if c.action is Action.DELETE else 'replaced'}"
                )
            elif c.action in (Action.CREATE, Action.UPDATE) and (
                c.type.startswith("aws.iam.")
                or c.type in ("aws.ec2.SecurityGroup", "aws.ec2.SecurityGroupRule")
            ):
                reasons.append(f"{c.path} ({c.type}) widens permissions or network access")
        return reasons

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``infradsl plan --json``."""
        return {
            "stack": self.stack,
            "region": self.region,
            "destroy": self.destroy,
            **({"lookups": [f.to_json() for f in self.lookups]} if self.lookups else {}),
            "notes": list(self.notes),
            "summary": self.summary(),
            "changes": [c.to_json() for c in self.changes if c.action is not Action.NOOP],
        }
