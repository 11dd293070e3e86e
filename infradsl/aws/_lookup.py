"""What the ``lookup`` classmethods of the catalog share: checks of their criteria.

See `infradsl.core.lookup` for what a lookup is.
"""

from __future__ import annotations

from typing import Any

from infradsl.aws import _validators as v
from infradsl.core.lookup import make_lookup
from infradsl.core.reference import Reference
from infradsl.core.resource import Check, Resource

__all__ = ["ROLE_ARN", "ROLE_NAME", "flag", "resource_id", "text", "vpc_of"]


def text(pattern: str, example: str) -> Check:
    """A str matching ``pattern`` (a reference to another lookup passes as well)."""
    matches = v.matches(pattern, example)

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError(
                f"{name!r} must be a str like {example} (got {type(value).__name__} {value!r})"
            )
        matches(name, value)

    return check


def resource_id(prefix: str) -> Check:
    """An EC2 id with ``prefix`` (``vpc``, ``subnet``, ``sg``)."""
    return text(rf"^{prefix}-[0-9a-f]+$", f"{prefix}-0123456789abcdef0")


def flag(name: str, value: Any) -> None:
    """True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name!r} must be True or False (got {value!r})")


ROLE_NAME = text(r"^[\w+=,.@-]{1,64}$", "ops-role")
ROLE_ARN = text(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$", "arn:aws:iam::123456789012:role/ops")


def vpc_of(owner: Resource, vpc: Any, vpc_type: type[Resource]) -> Any:
    """The VPC of a looked-up subnet or group, as a `Vpc` object.

    The ``vpc`` criterion when it is a looked-up VPC; otherwise an implicit lookup child
    ``<owner>/Vpc``, by the id given or by the owner's own ``vpc`` once that is found, so
    ``subnet.vpc`` can be passed wherever a VPC is expected. An implicit lookup is only
    synthesized (and looked up) when something refers to it.
    """
    if isinstance(vpc, Resource):
        return vpc  # a looked-up VPC; a managed one is reported by the owner's checks
    vpc_id = vpc if isinstance(vpc, (str, Reference)) else Reference(owner, "vpc")
    return make_lookup(vpc_type, owner, "Vpc", {"id": vpc_id}, implicit=True)
