"""A check rule: an id, what it means, how to fix it, and the functions that apply it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from infradsl.check.finding import Severity

__all__ = ["AppCheck", "Check", "Rule", "StackCheck"]

Check = Callable[[Mapping[str, Any]], Iterable[str]]
"""Applies a rule to one resource entry of a synthesized document (``type``,
``properties``, ``options``) and yields a message for each violation."""

StackCheck = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]
"""Applies a rule to a whole synthesized stack document and yields ``(path, message)``
for each violation, ``path`` being the logical id of the resource to report it on. For
rules that reason across resources, such as a security group and its standalone rules."""

AppCheck = Callable[[Mapping[str, Mapping[str, Any]]], Iterable[tuple[str, str, str]]]
"""Applies a rule to every synthesized stack document of an app at once (by stack name)
and yields ``(stack, path, message)`` for each violation. For rules that follow
references across stacks, such as an instance in one stack reading a secret of another."""


def _no_entry_check(entry: Mapping[str, Any]) -> Iterable[str]:
    return ()


def _no_stack_check(document: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    return ()


def _no_app_check(documents: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[str, str, str]]:
    return ()


@attrs.frozen(kw_only=True)
class Rule:
    """A named policy rule applied to synthesized documents.

    A rule has a per-resource `check`, a whole-stack `check_stack`, a whole-app
    `check_app`, or several of them.

    Attributes:
        id: a stable id such as ``"SG001"``; users acknowledge findings by it.
        title: a one-line summary.
        severity: how bad a violation is.
        description: why it matters.
        fix: how to fix it in code.
        types: the resource types it applies to (``"aws.ec2.Instance"``); empty for every
            resource and every stack output. Findings of `check_stack` and `check_app` on
            resources of other types are dropped.
        check: yields one message per violation in a resource entry.
        check_stack: yields ``(path, message)`` per violation in a stack document.
        check_app: yields ``(stack, path, message)`` per violation in the documents of an
            app.

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
    check: Check = attrs.field(default=_no_entry_check, repr=False, eq=False)
    check_stack: StackCheck = attrs.field(default=_no_stack_check, repr=False, eq=False)
    check_app: AppCheck = attrs.field(default=_no_app_check, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if (
            self.check is _no_entry_check
            and self.check_stack is _no_stack_check
            and self.check_app is _no_app_check
        ):
            raise TypeError(
                f"rule {self.id!r} needs a 'check', a 'check_stack' or a 'check_app' function"
            )

    def applies_to(self, type_name: str) -> bool:
        """Whether entries of ``type_name`` are checked by this rule."""
        return not self.types or type_name in self.types
