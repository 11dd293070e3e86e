"""Lookups: existing resources that infradsl does not manage, found at plan time.

``ec2.Vpc.lookup(self, "Shared", tags={"Name": "shared"})`` returns a `Vpc` like any
other, so it can be passed wherever a VPC is expected, and its attributes (``.id``,
``.arn``) and properties (``.cidr_block``) are references. It is not a resource of the
stack: synthesis writes it to the document's ``lookups`` section, the plan resolves the
query through the type's handler, and nothing ever creates, updates or deletes it.

The per-type ``lookup`` classmethods live with the types (`infradsl.aws.ec2`,
`infradsl.aws.iam`); this module holds what they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from infradsl.core.construct import Construct
from infradsl.core.reference import Reference
from infradsl.core.resource import Check, ResourceOptions

if TYPE_CHECKING:
    from infradsl.core.resource import Resource

__all__ = ["Lookup", "is_lookup", "lookup_of", "make_lookup"]

R = TypeVar("R", bound="Resource")

# Where the lookup is kept on the resource object: a lookup is an ordinary instance of its
# type (so type checks and ``isinstance`` treat it like a managed one), marked by this.
_MARK = "_infradsl_lookup"


@attrs.frozen
class Lookup:
    """What makes a resource object a lookup.

    Attributes:
        query: the criteria by keyword (``{"tags": {"Name": "shared"}}``); values are
            literals, other lookups, or references to their attributes.
        implicit: created by infradsl rather than by the user (the VPC of a looked-up
            subnet); synthesized only when something refers to it.
    """

    query: Mapping[str, Any]
    implicit: bool = False


def lookup_of(res: object) -> Lookup | None:
    """The `Lookup` of a resource object, or ``None`` for a managed resource."""
    found = getattr(res, _MARK, None)
    return found if isinstance(found, Lookup) else None


def is_lookup(res: object) -> bool:
    """True when ``res`` is a looked-up resource rather than one infradsl manages.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import ec2
        >>> stack = Stack(App(), "demo")
        >>> is_lookup(ec2.Vpc.lookup(stack, "Shared", id="vpc-0123456789abcdef0"))
        True
        >>> is_lookup(ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16"))
        False
    """
    return lookup_of(res) is not None


def make_lookup(
    cls: type[R],
    scope: Construct,
    construct_id: str,
    query: Mapping[str, Any],
    *,
    checks: Mapping[str, Check] | None = None,
    implicit: bool = False,
) -> R:
    """Create the lookup object of type ``cls`` (the body of every ``Type.lookup``).

    Every property of the object is a reference to the looked-up value of that property,
    so validation that needs a literal (a subnet inside its VPC's range) skips it at
    synth; the plan checks what it can once the values are known.

    Args:
        cls: the resource type.
        scope: where it goes in the construct tree (its path names it in plans and errors).
        construct_id: its id in ``scope``.
        query: criteria by keyword; ``None`` values are left out. At least one must be set.
        checks: validators for literal criteria (``check(name, value)`` raises
            ``ValueError``).
        implicit: made by infradsl, not the user (see `Lookup`).
    """
    obj = cls.__new__(cls)
    Construct.__init__(obj, scope, construct_id)
    stack = obj.node.stack
    if stack is None:
        obj.logical_id = obj.node.path
        obj.node.add_problem(
            f"{cls.__name__}.lookup({construct_id!r}) is not inside a Stack: look resources "
            "up in a Stack (or in a component inside one)"
        )
    else:
        obj.logical_id = obj.node.path[len(stack.node.path) + 1 :]
    obj.options = ResourceOptions()
    criteria = {key: value for key, value in query.items() if value is not None}
    if not criteria:
        names = " or ".join(f"{key}=" for key in query)
        obj.node.add_problem(f"{cls.__name__}.lookup({construct_id!r}) needs a query: pass {names}")
    # An implicit lookup's criteria come from its owner's, which were checked there.
    for key, value in criteria.items() if not implicit else ():
        problem = _criterion_problem(key, value, (checks or {}).get(key))
        if problem is not None:
            obj.node.add_problem(problem)
    for name in cls._props:
        setattr(obj, name, Reference(obj, name))
    setattr(obj, _MARK, Lookup(query=criteria, implicit=implicit))
    return obj


def _criterion_problem(key: str, value: Any, check: Check | None) -> str | None:
    """What is wrong with one criterion, or ``None``."""
    from infradsl.core.resource import Resource

    plan_time = (
        "lookups are resolved when planning, before anything is deployed, so a query can "
        "use literal values and other lookups only"
    )
    if isinstance(value, Reference):
        if is_lookup(value.target):
            return None
        return (
            f"'{key}' refers to {value.target.__infradsl_type__} {value.target.logical_id!r}, "
            f"a resource infradsl creates: {plan_time}"
        )
    if isinstance(value, Resource):
        if is_lookup(value):
            return None
        return (
            f"'{key}' is {value.__infradsl_type__} {value.logical_id!r}, a resource infradsl "
            f"creates: {plan_time}"
        )
    if key == "tags":
        if not isinstance(value, Mapping) or not value:
            return f"'tags' must be a non-empty dict of tag key to value (got {value!r})"
        for tag, tag_value in value.items():
            if not isinstance(tag, str) or not isinstance(tag_value, str):
                return f"'tags' keys and values must be str (got {tag!r}: {tag_value!r})"
        return None
    if check is not None:
        try:
            check(key, value)
        except (ValueError, TypeError) as exc:
            return str(exc)
    return None
