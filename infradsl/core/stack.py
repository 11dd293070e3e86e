"""A stack: the unit of deployment, with a region and its own state."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from infradsl.core.construct import Construct

if TYPE_CHECKING:
    from infradsl.core.output import Output
    from infradsl.core.resource import Resource

__all__ = ["Stack"]

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")


class Stack(Construct):
    """A deployable unit: resources deployed together to one region, with one state.

    Subclass it and create resources in ``__init__``.

    Args:
        scope: the `App`.
        id: the stack name; used in state, tags and output file names.
        region: the AWS region, e.g. ``"us-east-1"``.
        description: free text shown in plans.
        tags: tags applied to every taggable resource of the stack.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import ec2
        >>> class Network(Stack):
        ...     def __init__(self, scope, id, **kwargs):
        ...         super().__init__(scope, id, **kwargs)
        ...         self.vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
        >>> Network(App(), "network", region="eu-west-1").region
        'eu-west-1'
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        region: str = "us-east-1",
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.region = region
        self.description = description
        self.tags: dict[str, str] = dict(tags or {})
        if scope.node.scope is not None:
            self.node.add_problem(
                f"stack {id!r} must be created directly in the App (its scope is "
                f"{scope.node.path!r}); nested stacks are not supported"
            )
        if not isinstance(region, str) or not _REGION_RE.match(region):
            self.node.add_problem(f"'region' must be an AWS region like us-east-1 (got {region!r})")
        for key, value in self.tags.items():
            if not isinstance(key, str) or not isinstance(value, str):
                self.node.add_problem(f"stack tags must map str to str (got {key!r}: {value!r})")

    @property
    def name(self) -> str:
        """The stack name (its id)."""
        return self.node.id

    def resources(self) -> list[Resource]:
        """Every resource of this stack, in creation order."""
        from infradsl.core.resource import Resource

        return [c for c in self.node.walk() if isinstance(c, Resource)]

    def outputs(self) -> list[Output]:
        """Every output of this stack, in creation order."""
        from infradsl.core.output import Output

        return [c for c in self.node.walk() if isinstance(c, Output)]

    def __repr__(self) -> str:
        return f"<Stack {self.name} region={self.region}>"
