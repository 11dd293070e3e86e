"""A stack: the unit of deployment, with a region and its own state."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from infradsl.core._source import format_location
from infradsl.core._tags import tag_problems
from infradsl.core.construct import Construct

if TYPE_CHECKING:
    from infradsl.core.output import Output
    from infradsl.core.resource import Resource

__all__ = ["Stack"]

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")
# Names Windows keeps for devices, with any extension: `<name>.json` cannot be a file.
_DEVICE_NAMES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{d}{n}" for d in ("com", "lpt") for n in range(1, 10)]
)


class Stack(Construct):
    """A deployable unit: resources deployed together to one region, with one state.

    Subclass it and create resources in ``__init__``.

    Args:
        scope: the `App`.
        id: the stack name; used in state, tags and output file names.
        region: the AWS region, e.g. ``"us-east-1"``.
        description: free text shown in plans.
        tags: tags applied to every taggable resource of the stack; with a resource's own
            and the 4 system tags, at most 50 (AWS's limit).

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
        for problem in tag_problems("tags", self.tags):
            self.node.add_problem(problem)
        self._check_name(scope, id)

    def _check_name(self, scope: Construct, id: str) -> None:
        """Refuse names that cannot name the stack's files.

        The stack name names its state (``<name>.json``, ``.versions/<name>/``) and its
        synthesized document. The construct id rule already keeps it to
        ``[A-Za-z0-9][A-Za-z0-9_-]*`` (no ``.``, ``/`` or ``..``), so it cannot leave the
        state folder; what is left is what some file systems refuse or merge.
        """
        if not isinstance(id, str):
            return
        if id.lower() in _DEVICE_NAMES:
            self.node.add_problem(
                f"stack name {id!r} is a device name on Windows, where its state file "
                f"'{id}.json' cannot be written: pick another name"
            )
        for sibling in scope.node.children:
            if (
                isinstance(sibling, Stack)
                and sibling is not self
                and sibling.name != id
                and sibling.name.lower() == id.lower()
            ):
                self.node.add_problem(
                    f"stack name {id!r} differs from stack {sibling.name!r} (defined at "
                    f"{format_location(sibling.node.location)}) only by case: their state "
                    "files would be one file on macOS and Windows; rename one of them"
                )
                break

    @property
    def name(self) -> str:
        """The stack name (its id)."""
        return self.node.id

    def resources(self) -> list[Resource]:
        """Every resource of this stack, in creation order (lookups are not its resources)."""
        from infradsl.core.lookup import is_lookup
        from infradsl.core.resource import Resource

        return [c for c in self.node.walk() if isinstance(c, Resource) and not is_lookup(c)]

    def outputs(self) -> list[Output]:
        """Every output of this stack, in creation order."""
        from infradsl.core.output import Output

        return [c for c in self.node.walk() if isinstance(c, Output)]

    def __repr__(self) -> str:
        return f"<Stack {self.name} region={self.region}>"
