"""Validate an app and synthesize every stack, reporting all problems at once."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from infradsl.core._source import format_location
from infradsl.core._tags import resource_tag_problems
from infradsl.core.app import App
from infradsl.core.construct import Construct
from infradsl.core.lookup import is_lookup
from infradsl.core.reference import Reference
from infradsl.core.resource import Resource
from infradsl.core.stack import Stack
from infradsl.core.typeinfo import type_info
from infradsl.errors import Problem, SynthError, ValidationError
from infradsl.synth._region import region_problems
from infradsl.synth.document import StackDocument
from infradsl.synth.graph import find_cycles

__all__ = ["synthesize", "synthesize_stack", "validate"]


def synthesize(app: Construct) -> dict[str, dict[str, Any]]:
    """Validate ``app`` and return the document of each stack, by stack name.

    Raises:
        ValidationError: every problem found in the app, together.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import ec2
        >>> app = App()
        >>> _ = ec2.Vpc(Stack(app, "demo"), "Vpc", cidr_block="10.0.0.0/16")
        >>> synthesize(app)["demo"]["resources"]["Vpc"]["type"]
        'aws.ec2.Vpc'
    """
    documents, problems = _run(app, app_stacks(app))
    if problems:
        raise ValidationError(problems)
    return documents


def synthesize_stack(stack: Stack) -> dict[str, Any]:
    """Validate the app of ``stack`` and return the document of this one stack."""
    if not isinstance(stack, Stack):
        raise SynthError(f"synthesize_stack() takes a Stack (got {type(stack).__name__})")
    return synthesize(stack.node.root)[stack.name]


def validate(app: Construct) -> list[Problem]:
    """Return every problem of ``app`` without raising (an empty list when it is valid)."""
    return _run(app, app_stacks(app))[1]


def app_stacks(app: Construct) -> list[Stack]:
    """The stacks of an app (or the stack itself)."""
    if isinstance(app, Stack):
        return [app]
    if isinstance(app, App):
        return app.stacks
    return [c for c in app.node.walk() if isinstance(c, Stack)]


def _run(
    app: Construct, stacks: Sequence[Stack]
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    root = app.node.root
    problems = list(root.node.problems)

    def add(construct: Construct, message: str) -> None:
        problems.append(
            Problem(construct.node.path, message, format_location(construct.node.location))
        )

    if not stacks:
        problems.append(Problem("", "the app defines no Stack: create one with Stack(app, 'name')"))
    by_type: dict[type[Resource], list[Resource]] = {}
    # Only an app whose stacks are in several regions can use a resource of another region.
    every_stack = stacks if root is app else app_stacks(root)
    several_regions = len({s.region for s in every_stack}) > 1
    for construct in root.node.walk():
        if isinstance(construct, Resource) and not is_lookup(construct):
            by_type.setdefault(type(construct), []).append(construct)
            for message in construct.validate():
                add(construct, message)
            for message in resource_tag_problems(construct):
                add(construct, message)
            if several_regions:
                for message in region_problems(construct):
                    add(construct, message)
    for cls, members in by_type.items():
        for res, message in cls.validate_all(members):
            add(res, message)

    documents: dict[str, dict[str, Any]] = {}
    stack_edges: dict[str, set[str]] = {}
    for stack in stacks:
        builder = StackDocument(stack)
        documents[stack.name] = builder.build()
        for construct, message in builder.problems:
            add(construct, message)
        stack_edges[stack.name] = builder.stack_dependencies
        cycles = find_cycles(builder.dependencies)
        if cycles:
            by_path = {r.logical_id: r for r in stack.resources()}
            for cycle in cycles:
                add(by_path[cycle[0]], _cycle_message(cycle, by_path))
    for cycle in find_cycles(stack_edges):
        first_stack = next(s for s in stacks if s.name == cycle[0])
        add(first_stack, "stacks depend on each other: " + " -> ".join(cycle))
    return documents, problems


def _cycle_message(cycle: list[str], by_path: Mapping[str, Resource]) -> str:
    """The cycle by path, then the hints of the types whose property makes an edge of
    it (`~infradsl.core.typeinfo.TypeInfo.cycle_hints`; sorted, once each)."""
    path = " -> ".join(cycle)
    hints: set[str] = set()
    for source, target in itertools.pairwise(cycle):
        res, dep = by_path.get(source), by_path.get(target)
        if res is None or dep is None:
            continue
        for name, hint in type_info(res.__infradsl_type__).cycle_hints.items():
            if _names(getattr(res, name, None), dep):
                hints.add(hint)
    return f"dependency cycle: {path}; remove one of these references or depends_on" + "".join(
        f"; {hint}" for hint in sorted(hints)
    )


def _names(value: Any, target: Resource) -> bool:
    """True when a property value is ``target`` or a reference to it (or holds one)."""
    if value is target:
        return True
    if isinstance(value, Reference):
        return value.target is target
    if isinstance(value, (list, tuple)):
        return any(_names(item, target) for item in value)
    return False
