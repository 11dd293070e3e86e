"""Looked-up resources in a plan: their values, and documents with those values filled in.

A document's ``lookups`` section (see `infradsl.synth.document`) lists queries for
existing resources. `infradsl.engine.lookup` asks the handlers; this module holds what is
pure: the `LookedUp` result, the order to resolve queries in (a subnet's VPC after the
subnet), replacing references to lookups by their values, and the checks that need
those values (a new subnet inside a looked-up VPC's ranges).

A resolved document has no ``lookups``; its ``looked_up`` key records what was found, so
the plan can show it. The planner and the executor see plain values where the
references were: a looked-up value that changes (the VPC tagged ``shared`` is now
another one) shows as a property change of the resources that use it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from infradsl.core.typeinfo import type_info
from infradsl.plan.change import Plan, PlanError
from infradsl.plan.values import references

__all__ = [
    "LookedUp",
    "LookupFailedError",
    "describe_query",
    "entry_key",
    "looked_up",
    "lookup_dependencies",
    "problems_with",
    "substitute",
    "with_lookups",
]

# Key of a lookup: (the stack that declares it when another one, its path there).
Key = tuple[str | None, str]


class LookupFailedError(PlanError):
    """A lookup found no resource or more than one, or its values do not fit; nothing
    was changed."""


@attrs.frozen
class LookedUp:
    """One resolved lookup.

    Attributes:
        path: its logical id (the construct path inside the stack that declares it).
        type: the resource type name.
        query: the criteria, references to other lookups resolved.
        physical_id: the id of the one resource found.
        values: its properties, tags and attributes, by name (what references read).
        stack: the stack that declares it, when another than the one planned.
        region: where it was looked up.
    """

    path: str
    type: str
    query: Mapping[str, Any]
    physical_id: str
    values: Mapping[str, Any]
    stack: str | None = None
    region: str = ""

    @property
    def key(self) -> Key:
        """``(stack or None, path)``: how references name it."""
        return (self.stack, self.path)

    @property
    def name(self) -> str:
        """``path``, or ``stack:path`` for another stack's lookup."""
        return f"{self.stack}:{self.path}" if self.stack else self.path

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        out: dict[str, Any] = {
            "path": self.path,
            "type": self.type,
            "query": dict(self.query),
            "physical_id": self.physical_id,
            "values": dict(self.values),
            "region": self.region,
        }
        if self.stack is not None:
            out["stack"] = self.stack
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LookedUp:
        """Parse what `to_json` wrote."""
        return cls(
            path=data["path"],
            type=data["type"],
            query=data.get("query", {}),
            physical_id=data["physical_id"],
            values=data.get("values", {}),
            stack=data.get("stack"),
            region=data.get("region", ""),
        )


def looked_up(document: Mapping[str, Any] | None) -> tuple[LookedUp, ...]:
    """What a resolved document records as looked up: its own lookups first, by path."""
    if not document:
        return ()
    entries = document.get("looked_up") or []
    return tuple(
        sorted((LookedUp.from_json(e) for e in entries), key=lambda f: (f.stack or "", f.path))
    )


def with_lookups(plan: Plan, document: Mapping[str, Any] | None) -> Plan:
    """``plan`` with the lookups its resolved ``document`` records."""
    found = looked_up(document)
    return attrs.evolve(plan, lookups=found) if found else plan


def entry_key(document: Mapping[str, Any], path: str, entry: Mapping[str, Any]) -> Key:
    """The key of a ``lookups`` entry of ``document``."""
    stack = entry.get("stack")
    return (None if stack in (None, document.get("stack")) else str(stack), path)


def _ref_key(document: Mapping[str, Any], stack: str | None, path: str) -> Key:
    return (None if stack in (None, document.get("stack")) else stack, path)


def lookup_dependencies(document: Mapping[str, Any]) -> dict[str, set[str]]:
    """Per lookup path, the lookups its query refers to (resolved before it)."""
    entries: Mapping[str, Any] = document.get("lookups") or {}
    keys = {entry_key(document, path, entry): path for path, entry in entries.items()}
    return {
        path: {
            keys[k]
            for s, p, _a in references(entry.get("query", {}))
            if (k := _ref_key(document, s, p)) in keys
        }
        for path, entry in entries.items()
    }


def describe_query(query: Mapping[str, Any]) -> str:
    """The criteria in words, for messages: ``tags Name=shared, vpc vpc-0abc``."""
    parts: list[str] = []
    for name in sorted(query):
        value = query[name]
        if isinstance(value, Mapping) and "ref" in value:
            shown = f"{value.get('stack', '') and value['stack'] + ':'}{value['ref']}"
        elif isinstance(value, Mapping):
            shown = " ".join(f"{k}={v}" for k, v in sorted(value.items()))
        else:
            shown = str(value)
        parts.append(f"{name} {shown}")
    return ", ".join(parts)


def substitute(value: Any, document: Mapping[str, Any], found: Mapping[Key, LookedUp]) -> Any:
    """``value`` with every reference to a found lookup replaced by the looked-up value.

    Other references stay; a ``join`` whose parts all became text becomes a string.

    Raises:
        LookupFailedError: a reference reads a value the lookup did not return.
    """
    if isinstance(value, dict):
        if "ref" in value and isinstance(value["ref"], str):
            path, _, attribute = value["ref"].rpartition(".")
            hit = found.get(_ref_key(document, value.get("stack"), path))
            if hit is None:
                return value
            if attribute not in hit.values:
                known = ", ".join(sorted(hit.values))
                raise LookupFailedError(
                    f"refused, nothing was changed: {value['ref']} is read, but the lookup "
                    f"{hit.path} ({hit.type}) has no value {attribute!r} (it has {known})"
                )
            return hit.values[attribute]
        if set(value) == {"join"} and isinstance(value["join"], list):
            return _join([substitute(p, document, found) for p in value["join"]])
        return {k: substitute(v, document, found) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(item, document, found) for item in value]
    return value


def _join(parts: Iterable[Any]) -> Any:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, dict):
            merged.append(part)
            continue
        text = "" if part is None else str(part)
        if merged and isinstance(merged[-1], str):
            merged[-1] += text
        elif text:
            merged.append(text)
    if all(isinstance(p, str) for p in merged):
        return "".join(merged)
    return {"join": merged}


def problems_with(document: Mapping[str, Any], found: Mapping[Key, LookedUp]) -> list[str]:
    """Checks of the (unresolved) ``document`` that synthesis left for the looked-up values.

    A resource whose type says ``cidr_within`` (a subnet) must lie inside one of the
    ranges of its looked-up parent (its VPC): AWS refuses it otherwise
    (InvalidSubnet.Range).
    """
    problems: list[str] = []
    for path, entry in sorted(document.get("resources", {}).items()):
        rule = type_info(entry.get("type", "")).cidr_within
        if rule is None:
            continue
        vpc_prop, cidr_prop = rule
        vpc, cidr = entry["properties"].get(vpc_prop), entry["properties"].get(cidr_prop)
        if not (isinstance(vpc, dict) and isinstance(vpc.get("ref"), str)):
            continue
        target, _, _ = vpc["ref"].rpartition(".")
        hit = found.get(_ref_key(document, vpc.get("stack"), target))
        if hit is None or not isinstance(cidr, str):
            continue
        ranges = hit.values.get("cidr_blocks") or [hit.values.get("cidr_block")]
        try:
            network = ipaddress.ip_network(cidr)
            inside = any(
                isinstance(r, str)
                and network.version == ipaddress.ip_network(r).version
                and network.subnet_of(ipaddress.ip_network(r))  # type: ignore[arg-type]
                for r in ranges
            )
        except ValueError:
            continue
        if not inside:
            shown = ", ".join(str(r) for r in ranges)
            problems.append(
                f"{path}: '{cidr_prop}' {cidr} is outside its VPC {hit.path} "
                f"({hit.physical_id}, {shown}), which was looked up by "
                f"{describe_query(hit.query)}; pick a range inside it"
            )
    return problems
