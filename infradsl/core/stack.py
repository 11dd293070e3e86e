"""A stack: the unit of deployment, with a region and its own state."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from infradsl.core._source import format_location, user_location
from infradsl.core._tags import tag_problems
from infradsl.core.construct import Construct
from infradsl.errors import ConstructError, Problem, ValidationError

if TYPE_CHECKING:
    from infradsl.core.output import Output
    from infradsl.core.resource import Resource

__all__ = ["Stack"]

T = TypeVar("T")
_NO_DEFAULT: Any = object()

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

    @staticmethod
    def of(scope: Construct) -> Stack:
        """The stack ``scope`` is in (``scope`` itself when it is a stack).

        Raises:
            ConstructError: ``scope`` is not inside a stack.

        Example:
            >>> from infradsl import App, Construct, Stack
            >>> stack = Stack(App(), "demo", region="eu-west-1")
            >>> Stack.of(Construct(stack, "Part")).region
            'eu-west-1'
        """
        found = scope.node.stack
        if found is None:
            raise ConstructError(
                f"{scope.node.path or 'the app'} is not inside a Stack: create it in a stack "
                "(or in a component inside one)"
            )
        return found

    def region_value(
        self, values: Mapping[str, T], *, name: str = "the mapping", default: T = _NO_DEFAULT
    ) -> T:
        """The entry of ``values`` for this stack's region.

        One stack class deployed to several regions keeps what differs by region (image
        ids, availability zones, sizes) in one mapping by region name, instead of copies
        of the class: each instance of the class picks its own entry.

        Args:
            values: region name -> value, e.g. ``{"us-east-1": "ami-0123...",
                "eu-west-1": "ami-0456..."}``.
            name: what the mapping holds, for the error message (``"WEB_AMI"``).
            default: the value for regions not in ``values``; without it a missing region
                is an error.

        Raises:
            ValidationError: ``values`` has no entry for the stack's region (and no
                ``default``); the message names the region, the stack, the regions the
                mapping has and the user's ``file:line``, after the problems the app
                collected so far.

        Example:
            >>> from infradsl import App, Stack
            >>> AMI = {"us-east-1": "ami-11111111", "eu-west-1": "ami-22222222"}
            >>> app = App()
            >>> [Stack(app, f"web-{r}", region=r).region_value(AMI) for r in AMI]
            ['ami-11111111', 'ami-22222222']
        """
        region = self.region
        if region in values:
            return values[region]
        if default is not _NO_DEFAULT:
            return default
        known = sorted(str(key) for key in values)
        has = f"it has {', '.join(known)}" if known else "it is empty"
        problem = Problem(
            self.node.path,
            f"{name} has no value for region {region!r}, where stack {self.name!r} is "
            f"deployed ({has}){_misspelt(str(region), known)}: add an entry for "
            f"{region!r}, or pass default=",
            format_location(user_location(1)),
        )
        # Raised at once (there is no value to go on with), together with what the tree
        # collected so far.
        raise ValidationError([*self.node.problems, problem])

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


def _misspelt(region: str, keys: list[str]) -> str:
    """`` (did you mean 'eu-west1'?)`` for a key that is nearly the region's name."""
    import difflib

    # Stricter than names in general: regions differ from each other by a few letters.
    close = difflib.get_close_matches(region, keys, n=1, cutoff=0.85)
    return f" (did you mean {close[0]!r}?)" if close else ""
