"""Turning one stack into its synthesized document (DESIGN section 2)."""

from __future__ import annotations

from typing import Any

import attrs

from infradsl.core._source import format_location
from infradsl.core._tags import merge_tags
from infradsl.core.construct import Construct
from infradsl.core.lookup import is_lookup, lookup_of
from infradsl.core.output import Output
from infradsl.core.reference import Reference, damaged_tokens, holds_reference, split_tokens
from infradsl.core.resource import Resource, ResourceOptions
from infradsl.core.stack import Stack
from infradsl.synth._json import dumps_indented

__all__ = ["FORMAT_VERSION", "StackDocument", "dumps"]

FORMAT_VERSION = 1


def dumps(document: dict[str, Any]) -> str:
    """Canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return dumps_indented(document) + "\n"


class StackDocument:
    """Builds the document of one stack and records what it found on the way.

    Attributes:
        dependencies: per logical id, the logical ids it depends on in this stack.
        stack_dependencies: names of other stacks this stack reads from.
        lookups_used: lookups this stack declares or refers to, in order of first use.
        problems: ``(construct, message)`` pairs found while serializing.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.app = stack.node.root
        self.dependencies: dict[str, set[str]] = {}
        self.stack_dependencies: set[str] = set()
        self.problems: list[tuple[Construct, str]] = []
        self.lookups_used: list[Resource] = []
        self._current: Construct = stack
        self._deps: set[str] = set()

    def build(self) -> dict[str, Any]:
        """Return the document as plain, JSON-ready data."""
        stack = self.stack
        resources: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        descriptions: dict[str, str] = {}
        for construct in stack.node.walk():
            if isinstance(construct, Resource):
                found = lookup_of(construct)
                if found is None:
                    resources[construct.logical_id] = self._resource(construct)
                elif not found.implicit:
                    self._use_lookup(construct)
            elif isinstance(construct, Output):
                self._current = construct
                self._deps = set()
                outputs[construct.logical_id] = self._value(construct.value, "value")
                if construct.description:
                    descriptions[construct.logical_id] = construct.description
        document = {
            "infradsl": FORMAT_VERSION,
            "stack": stack.name,
            "region": stack.region,
            "resources": resources,
            "outputs": outputs,
        }
        if descriptions:
            # Shown in plans and after a deploy; only stacks with descriptions have the key.
            document["output_descriptions"] = descriptions
        lookups = self._lookups(resources)
        if lookups:
            # Only stacks with lookups have the key: other documents stay as they were.
            document["lookups"] = lookups
        return document

    def _use_lookup(self, target: Resource) -> None:
        if target not in self.lookups_used:
            self.lookups_used.append(target)

    def _lookups(self, resources: dict[str, Any]) -> dict[str, Any]:
        """The ``lookups`` section: every lookup declared here or referred to.

        A lookup of another stack that this stack refers to is written here too (with
        ``stack``, and ``region`` when it differs): it is resolved when this stack is
        planned, from the query, so no state of the other stack is needed. Serializing a
        query can refer to further lookups (a subnet's VPC), hence the growing list.
        """
        entries: dict[str, Any] = {}
        index = 0
        while index < len(self.lookups_used):
            target = self.lookups_used[index]
            index += 1
            found = lookup_of(target)
            assert found is not None
            self._current = target
            self._deps = set()
            entry: dict[str, Any] = {
                "type": target.__infradsl_type__,
                "query": {k: self._value(v, k) for k, v in found.query.items()},
            }
            other = target.node.stack
            if other is not None and other is not self.stack:
                entry["stack"] = other.name
                if other.region != self.stack.region:
                    entry["region"] = other.region
            key = target.logical_id
            if key in resources or key in entries:
                self.problems.append(
                    (
                        target,
                        f"stack {self.stack.name!r} refers to this lookup, whose path {key!r} "
                        f"is also the path of another resource or lookup it uses; rename one",
                    )
                )
                continue
            entries[key] = entry
        return entries

    def _resource(self, res: Resource) -> dict[str, Any]:
        self._current = res
        self._deps = set()
        soft: set[str] = set()
        properties: dict[str, Any] = {}
        stack_tags = self.stack.tags
        deferrable = res.__infradsl_deferrable__
        for name in type(res)._props:  # `property_values()` without the dict
            value = getattr(res, name)
            if value is None:
                continue
            cls = value.__class__
            # Plain scalars, most values, are taken as they are without a call (a string
            # with neither "${" nor ":" holds no token, whole or damaged: see `_value`).
            if cls is bool or cls is int or (cls is str and "${" not in value and ":" not in value):
                properties[name] = value
                continue
            if name == "tags" and stack_tags:
                value = merge_tags(stack_tags, value)
            if name in deferrable:
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
        # (The set is this resource's own: the next one starts a new `_deps`.)
        self.dependencies[res.logical_id] = self._deps
        entry: dict[str, Any] = {
            "type": res.__infradsl_type__,
            "properties": properties,
            "depends_on": sorted(self._deps | deferred),
            "options": _options(
                res.options, res.node.acknowledgements(), _aliases(res, self.stack)
            ),
        }
        if deferred:
            entry["deferred"] = sorted(deferred)
        return entry

    def _explicit_dependency(self, dep: Construct) -> None:
        for construct in dep.node.walk():
            # A lookup is resolved before anything deploys: nothing to wait for.
            if isinstance(construct, Resource) and not is_lookup(construct):
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
        if is_lookup(target):
            # Resolved when planning: no deploy order, and no state of another stack.
            self._use_lookup(target)
            return other.name if other is not None and other is not self.stack else None
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
        return self._reference_to(ref.target, ref.attribute, where)

    def _reference_to(self, target: Resource, attribute: str, where: str) -> dict[str, Any]:
        # A resource passed as a value is a reference to its id; no `Reference` is made
        # for it (that would record a source location no message uses).
        other = self._target(target, where)
        out: dict[str, Any] = {"ref": f"{target.logical_id}.{attribute}"}
        if other is not None:
            out["stack"] = other
        return out

    def _value(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            if "${" not in value and ":" not in value:
                return value  # no token, whole or damaged: each has "${" or "dsl:"
            damaged = damaged_tokens(value)
            if damaged:
                self.problems.append((self._current, _damage_message(where, damaged)))
                return value
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
            return self._reference_to(value, "id", where)
        if isinstance(value, (list, tuple)):
            return [self._value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, Reference) or (isinstance(key, str) and holds_reference(key)):
                    self.problems.append((self._current, _key_message(where, key)))
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


def _damage_message(where: str, damaged: list[tuple[str, Reference | None]]) -> str:
    """Say which reference placeholders a str operation cut or changed, and what to do."""
    pieces = []
    for fragment, ref in damaged:
        origin = ""
        if ref is not None:
            origin = f" from {ref.describe()}, read at {format_location(ref.location)}"
        pieces.append(f"{fragment!r}{origin}")
    return (
        f"{where!r} holds a reference placeholder cut or changed by a str operation "
        f"({', '.join(pieces)}): slicing, .upper(), .replace() and other str methods act on "
        "the placeholder, not on the value, which is only known at deploy time; use the "
        "reference whole in an f-string or pass it as a property"
    )


def _key_message(where: str, key: str | Reference) -> str:
    """Say that a dict key holds a reference, which synthesis cannot turn into a key."""
    if isinstance(key, Reference):
        made = f"is the reference {key.describe()}"
    else:
        try:
            refs = [p.describe() for p in split_tokens(key) or () if isinstance(p, Reference)]
        except KeyError:
            refs = []
        made = f"holds the reference {', '.join(refs)}" if refs else "holds a reference"
    return (
        f"{where!r} has a key that {made}: keys must be known at synth time; put the "
        "reference in a value instead"
    )


def _aliases(res: Resource, stack: Stack) -> list[str]:
    """The resource's former paths: its ``aliases`` option, and its path (and those
    aliases) under every alias of the constructs above it (`Node.add_alias`)."""
    if not res.options.aliases and not _has_alias_above(res, stack):
        return []
    names = {res.logical_id, *res.options.aliases}
    prefix = len(stack.node.path) + 1
    node = res.node
    while node.construct is not stack and node.scope is not None:
        path = node.path[prefix:]
        for alias in node.aliases:
            names |= {
                alias + name[len(path) :]
                for name in list(names)
                if name == path or name.startswith(f"{path}/")
            }
        node = node.scope.node
    names.discard(res.logical_id)
    return sorted(names)


def _has_alias_above(res: Resource, stack: Stack) -> bool:
    """Whether the resource or a construct above it (below the stack) has an alias."""
    node = res.node
    while node.construct is not stack and node.scope is not None:
        if node._aliases:  # the list itself: `aliases` makes a tuple of it
            return True
        node = node.scope.node
    return False


def _options(options: ResourceOptions, acks: dict[str, str], aliases: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("protect", "delete_before_replace", "retain_on_delete"):
        if getattr(options, key):
            out[key] = True
    for key in ("ignore_changes", "replace_on_changes"):
        names = getattr(options, key)
        if names:
            out[key] = sorted(names)
    if aliases:
        out["aliases"] = aliases
    if acks:
        out["acknowledged"] = dict(sorted(acks.items()))
    return out
