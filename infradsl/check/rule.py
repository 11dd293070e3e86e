"""A check rule: an id, what it means, how to fix it, and the function that applies it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from infradsl.check.finding import Severity

__all__ = ["Check", "Rule"]

Check = Callable[[Mapping[str, Any]], Iterable[str]]
"""Applies a rule to one resource entry of a synthesized document (``type``,
``properties``, ``options``) and yields a message for each violation."""


@attrs.frozen(kw_only=True)
class Rule:
    """A named policy rule applied to synthesized documents.

    Attributes:
        id: a stable id such as ``"SG001"``; users acknowledge findings by it.
        title: a one-line summary.
        severity: how bad a violation is.
        description: why it matters.
        fix: how to fix it in code.
        types: the resource types it applies to (``"aws.ec2.Instance"``); empty for every
            resource and every stack output.
        check: yields one message per violation in a resource entry.

    Example:
        >>> rule = Rule(id="X001", title="no VPCs", severity=Severity.LOW,
        ...             description="VPCs are banned here.", fix="Remove it.",
        ...             types=("aws.ec2.Vpc",), check=lambda entry: ["a VPC"])
        >>> list(rule.check({"type": "aws.ec2.Vpc", "properties": {}}))
        ['a VPC']
    """

    id: str
    title: str
    severity: Severity
    description: str
    fix: str
    types: tuple[str, ...] = ()
    check: Check = attrs.field(repr=False, eq=False)

    def applies_to(self, type_name: str) -> bool:
        """Whether entries of ``type_name`` are checked by this rule."""
        return not self.types or type_name in self.types
