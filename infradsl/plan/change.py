"""Plans as plain data: per resource an action, the property diffs and the reasons."""

from __future__ import annotations

import enum
from collections import Counter
from typing import TYPE_CHECKING, Any

import attrs

from infradsl.core.typeinfo import type_info
from infradsl.errors import InfraDslError

if TYPE_CHECKING:
    from infradsl.plan.lookup import LookedUp

__all__ = ["Action", "OutputChange", "Plan", "PlanError", "PropertyDiff", "ResourceChange"]


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
        drift: the value was changed outside infradsl (old is what the cloud has; new is
            the value the deploy puts back).
        option: a resource option (``protect``, ``retain_on_delete``...) rather than a
            property: recorded in state, no cloud call.
        paths: where the values differ, JSON-pointer-like, starting with the name
            (``ingress/2/from_port``; see `infradsl.plan.paths`); for a value known after
            deploy, where the references to replaced resources are.
        replace_paths: the create-only paths among them (``image``,
            ``rule/protocol``): why ``forces_replacement`` is set.
    """

    name: str
    old: Any
    new: Any
    forces_replacement: bool = False
    known_after_deploy: bool = False
    drift: bool = False
    option: bool = False
    paths: tuple[str, ...] = ()
    replace_paths: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        data = attrs.asdict(self)
        data["paths"], data["replace_paths"] = list(self.paths), list(self.replace_paths)
        return data


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
        adoption: an update that only adds infradsl's tags to a resource that
            ``infradsl import`` adopted: deploy applies it, but it is no change of the
            resource (`Plan.has_changes` leaves it out).
    """

    path: str
    type: str
    action: Action
    diffs: tuple[PropertyDiff, ...] = ()
    reasons: tuple[str, ...] = ()
    previous_path: str | None = None
    missing: bool = False
    adoption: bool = False

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
            **({"adoption": True} if self.adoption else {}),
        }


@attrs.frozen
class OutputChange:
    """The planned change of one stack output.

    Attributes:
        name: the output's id in the stack.
        action: `Action.CREATE`, `Action.UPDATE`, `Action.DELETE` or `Action.NOOP`.
        old: the value recorded by the last deploy (``None`` when new).
        new: the value after the deploy, as far as known now (``None`` when removed or
            not known yet).
        known_after_deploy: the new value depends on a resource this deploy creates or
            replaces.
        description: the output's description, when it has one.
    """

    name: str
    action: Action
    old: Any = None
    new: Any = None
    known_after_deploy: bool = False
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "name": self.name,
            "action": self.action.verb,
            "old": self.old,
            "new": self.new,
            "known_after_deploy": self.known_after_deploy,
            "description": self.description,
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
        outputs: one change per output, unchanged ones included (sorted by name).
    """

    stack: str
    region: str
    changes: tuple[ResourceChange, ...]
    notes: tuple[str, ...] = ()
    destroy: bool = False
    lookups: tuple[LookedUp, ...] = ()
    outputs: tuple[OutputChange, ...] = ()

    @property
    def has_changes(self) -> bool:
        """True when any resource or output changes (tagging adopted resources is not a
        change: see `adopting`)."""
        return self.has_resource_changes or any(o.action is not Action.NOOP for o in self.outputs)

    @property
    def has_resource_changes(self) -> bool:
        """True when any resource changes (output changes alone need no cloud call)."""
        return any(c.action is not Action.NOOP and not c.adoption for c in self.changes)

    @property
    def adopting(self) -> tuple[ResourceChange, ...]:
        """The updates that only add infradsl's tags to resources ``infradsl import``
        adopted: a deploy applies them even when nothing else changes."""
        return tuple(c for c in self.changes if c.adoption)

    def summary(self) -> dict[str, int]:
        """Counts per action verb (``create``, ``update``...), zeros included."""
        counts = Counter(c.action.verb for c in self.changes)
        return {a.verb: counts.get(a.verb, 0) for a in Action}

    def output_summary(self) -> dict[str, int]:
        """Counts of outputs added (``create``), changed (``update``) and removed
        (``delete``), zeros included."""
        counts = Counter(o.action.verb for o in self.outputs)
        return {verb: counts.get(verb, 0) for verb in ("create", "update", "delete")}

    def confirmation_reasons(self) -> list[str]:
        """Why a human should confirm: destructive or permission-widening changes (a
        create or update of a type whose `~infradsl.core.typeinfo.TypeInfo` says
        ``widens_permissions``)."""
        reasons: list[str] = []
        for c in self.changes:
            if c.action in (Action.DELETE, Action.REPLACE):
                reasons.append(
                    f"{c.path} will be {'deleted' if c.action is Action.DELETE else 'replaced'}"
                )
            elif (
                c.action in (Action.CREATE, Action.UPDATE)
                and type_info(c.type).widens_permissions
                and not _bookkeeping_only(c)
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
            "outputs": [o.to_json() for o in self.outputs if o.action is not Action.NOOP],
            "output_summary": self.output_summary(),
        }


def _bookkeeping_only(change: ResourceChange) -> bool:
    """An update that only changes options or tags, or records a rename: no permission
    can widen through it."""
    return (
        change.action is Action.UPDATE
        and bool(change.diffs or change.previous_path)
        and all(d.option or d.name == "tags" for d in change.diffs)
    )
