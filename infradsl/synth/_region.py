"""Resources of another region: what AWS refuses when one stack uses another's resources.

A VPC, a subnet, a security group, a gateway, a key pair exist in one region: their ids
mean nothing to the API of another region, so an instance of a eu-west-1 stack cannot be
launched in a subnet of a us-east-1 stack. IAM is global: a role, a policy or an instance
profile may be used from any region, and an IAM resource may name anything (an ARN is
valid everywhere). A reference inside a string (an IP or an ARN in user data) is text,
not a use of the resource, and is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from infradsl.core.reference import Reference
from infradsl.core.resource import Resource
from infradsl.core.stack import Stack
from infradsl.core.typeinfo import type_info

__all__ = ["region_problems"]

# Resource type -> what `_positions` found for it (types are declared once, at import).
_POSITIONS: dict[type[Resource], tuple[tuple[str, str, bool], ...]] = {}


def region_problems(res: Resource) -> Iterator[str]:
    """Messages for each resource of another region that ``res`` uses.

    A use is a resource object passed anywhere in a property (at any depth: list items,
    `~infradsl.aws.ec2.Route` gateways, `~infradsl.aws.ec2.Rule` sources), a reference
    passed whole as a property that takes a resource (``subnet=subnet.id``), or a whole
    reference to an ``id`` in a field of a value object (``Route(gateway=igw.id)``).

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import ec2
        >>> app = App()
        >>> vpc = ec2.Vpc(Stack(app, "us", region="us-east-1"), "Vpc", cidr_block="10.0.0.0/16")
        >>> sub = ec2.Subnet(Stack(app, "eu", region="eu-west-1"), "A", vpc=vpc,
        ...                  cidr_block="10.0.1.0/24")
        >>> print(next(region_problems(sub)))  # doctest: +ELLIPSIS
        'vpc' is aws.ec2.Vpc 'Vpc' of stack 'us' in us-east-1, but this stack ...
    """
    stack = res.node.stack
    if stack is None or _is_global(res):
        return
    elsewhere = type_info(res.__infradsl_type__).cross_region
    for name, refs, items in _positions(type(res)):
        if name in elsewhere:
            continue  # the type copies from another region by design
        value = getattr(res, name)
        if value is not None and not isinstance(value, (str, int, float)):
            yield from _walk(stack, value, name, refs, items)


def _positions(cls: type[Resource]) -> tuple[tuple[str, str, bool], ...]:
    """Per property: its name, which whole references count as a use of a resource in
    it, and whether its list items or dict values take resources."""
    found = _POSITIONS.get(cls)
    if found is None:
        found = _POSITIONS[cls] = tuple(
            (
                name,
                "all" if _takes_resource(field.metadata.get("types", ())) else "",
                _takes_resource(field.metadata.get("items", ())),
            )
            for name, field in cls._props.items()
        )
    return found


def _takes_resource(types: tuple[type, ...]) -> bool:
    return any(isinstance(t, type) and issubclass(t, Resource) for t in types)


def _is_global(res: Resource) -> bool:
    """Not tied to a region (IAM): its `~infradsl.core.typeinfo.TypeInfo` says so."""
    return not type_info(res.__infradsl_type__).regional


def _walk(stack: Stack, value: Any, where: str, refs: str, items: bool) -> Iterator[str]:
    """Walk one value; ``refs`` says which whole references count as a use here:
    ``"all"``, ``"id"`` (only references to an ``id``) or ``""`` (none)."""
    if isinstance(value, Resource):
        yield from _check(stack, value, where)
    elif isinstance(value, Reference):
        if refs == "all" or (refs == "id" and value.attribute == "id"):
            yield from _check(stack, value.target, where)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(stack, item, f"{where}[{index}]", "all" if items else "", False)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(stack, item, f"{where}[{key!r}]", "all" if items else "", False)
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _walk(
                stack, getattr(value, field.name), f"{where}.{field.name}", "id", False
            )


def _check(stack: Stack, target: Resource, where: str) -> Iterator[str]:
    other = target.node.stack
    if (
        other is None
        or other.node.root is not stack.node.root  # another App: reported as such
        or other.region == stack.region
        or _is_global(target)
    ):
        return
    yield (
        f"{where!r} is {target.__infradsl_type__} {target.logical_id!r} of stack "
        f"{other.name!r} in {other.region}, but this stack deploys to {stack.region}: AWS "
        f"only finds it in its own region (of infradsl's resources only IAM is global); use "
        f"one of {stack.region}, or deploy both stacks to one region"
    )
