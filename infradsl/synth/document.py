"""Turning one stack into its synthesized document (DESIGN section 2)."""

from __future__ import annotations

import json
from typing import Any

import attrs

from infradsl.core._tags import merge_tags
from infradsl.core.construct import Construct
from infradsl.core.output import Output
from infradsl.core.reference import Reference, split_tokens
from infradsl.core.resource import Resource, ResourceOptions
from infradsl.core.stack import Stack

__all__ = ["FORMAT_VERSION", "StackDocument", "dumps"]

FORMAT_VERSION = 1


def dumps(document: dict[str, Any]) -> str:
    """Canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


class StackDocument:
    """Builds the document of one stack and records what it found on the way.

    Attributes:
        dependencies: per logical id, the logical ids it depends on in this stack.
        stack_dependencies: names of other stacks this stack reads from.
        problems: ``(construct, message)`` pairs found while serializing.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.app = stack.node.root
        self.dependencies: dict[str, set[str]] = {}
        self.stack_dependencies: set[str] = set()
        self.problems: list[tuple[Construct, str]] = []
        self._current: Construct = stack
        self._deps: set[str] = set()

    def build(self) -> dict[str, Any]:
        """Return the document as plain, JSON-ready data."""
        stack = self.stack
        resources: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for construct in stack.node.walk():
            if isinstance(construct, Resource):
                resources[construct.logical_id] = self._resource(construct)
            elif isinstance(construct, Output):
                self._current = construct
                self._deps = set()
                outputs[construct.logical_id] = self._value(construct.value, "value")
        return {
            "infradsl": FORMAT_VERSION,
            "stack": stack.name,
            "region": stack.region,
            "resources": resources,
            "outputs": outputs,
        }

    def _resource(self, res: Resource) -> dict[str, Any]:
        self._current = res
        self._deps = set()
        soft: set[str] = set()
        properties: dict[str, Any] = {}
        for name, value in res.property_values().items():
            if value is None:
                continue
            if name == "tags" and self.stack.tags:
                value = merge_tags(self.stack.tags, value)
            if name in res.__infradsl_deferrable__:
                hard, self._deps = self._deps, set()
                properties[name] = self._value(value, name)
                soft |= self._deps
                self._deps = hard
            else:
                properties[name] = self._value(value, name)
        for dep in res.options.depends_on:
            self._explicit_dependency(dep)
        self._deps.discard(res.logical_id)
        soft.discard(res.logical_id)
        deferred = soft - self._deps
        # Cycles are looked for over the edges that order creates: not the deferred ones.
        self.dependencies[res.logical_id] = set(self._deps)
        entry: dict[str, Any] = {
            "type": res.__infradsl_type__,
            "properties": properties,
            "depends_on": sorted(self._deps | deferred),
            "options": _options(res.options, res.node.acknowledgements()),
        }
        if deferred:
            entry["deferred"] = sorted(deferred)
        return entry

    def _explicit_dependency(self, dep: Construct) -> None:
        for construct in dep.node.walk():
            if isinstance(construct, Resource):
                self._target(construct, "depends_on")

    def _target(self, target: Resource, where: str) -> str | None:
        """Record a dependency on ``target``; return its stack name if another stack."""
        if target.node.root is not self.app:
            self.problems.append(
                (
                    self._current,
                    f"{where!r} refers to {target.node.path!r}, a resource of another App; "
                    "constructs of one app cannot reference another app's resources",
                )
            )
            return None
        other = target.node.stack
        if other is self.stack:
            self._deps.add(target.logical_id)
            return None
        if other is None:
            self.problems.append(
                (self._current, f"{where!r} refers to {target.node.path!r}, which is in no Stack")
            )
            return None
        self.stack_dependencies.add(other.name)
        return other.name

    def _reference(self, ref: Reference, where: str) -> dict[str, Any]:
        other = self._target(ref.target, where)
        out: dict[str, Any] = {"ref": f"{ref.target.logical_id}.{ref.attribute}"}
        if other is not None:
            out["stack"] = other
        return out

    def _value(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            try:
                parts = split_tokens(value)
            except KeyError:
                self.problems.append(
                    (self._current, f"{where!r} holds an unknown reference token in {value!r}")
                )
                return value
            if parts is None:
                return value
            if len(parts) == 1 and isinstance(parts[0], Reference):
                return self._reference(parts[0], where)
            return {
                "join": [
                    self._reference(p, where) if isinstance(p, Reference) else p for p in parts
                ]
            }
        if isinstance(value, Reference):
            return self._reference(value, where)
        if isinstance(value, Resource):
            return self._reference(Reference(value, "id"), where)
        if isinstance(value, (list, tuple)):
            return [self._value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {str(k): self._value(item, f"{where}[{k!r}]") for k, item in value.items()}
        if attrs.has(type(value)):
            out: dict[str, Any] = {}
            for field in attrs.fields(type(value)):
                item = getattr(value, field.name)
                if item is not None:
                    out[field.name] = self._value(item, f"{where}.{field.name}")
            return out
        if isinstance(value, Construct):
            self.problems.append(
                (
                    self._current,
                    f"{where!r} got the construct {value.node.path!r}, which is not a resource",
                )
            )
            return None
        self.problems.append(
            (
                self._current,
                f"{where!r} holds a {type(value).__name__}, which cannot be "
                "synthesized (use str, int, bool, list, dict or a reference)",
            )
        )
        return None


def _options(options: ResourceOptions, acks: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("protect", "delete_before_replace", "retain_on_delete"):
        if getattr(options, key):
            out[key] = True
    for key in ("ignore_changes", "replace_on_changes", "aliases"):
        names = getattr(options, key)
        if names:
            out[key] = sorted(names)
    if acks:
        out["acknowledged"] = dict(sorted(acks.items()))
    return out
