"""From an `Inventory` to the Python module a person would have written (pure, no I/O).

Resources are passed to each other as objects (``vpc=vpc``, ``source=app_sg``), never as
raw ids; construct ids come from ``Name`` tags (sanitised, unique, stable for the same
inventory); values equal to a property's default are left out; AMI ids and public keys
are named constants; groups that admit each other get the later rule appended once both
exist. The header lists what was not imported, and why.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infradsl.aws import resource_type
from infradsl.core._tags import SYSTEM_TAG_KEYS
from infradsl.providers._pysource import Call, Name, comment_lines, joined, literal, statement
from infradsl.providers.discovery import (
    REFERENCE_TYPES,
    Discovered,
    Generated,
    Inventory,
    Skipped,
    gateway_type,
    references,
)

__all__ = ["construct_id", "generate"]

# Emission order: what a resource refers to comes before it.
TYPE_ORDER = (
    "aws.ec2.Vpc",
    "aws.ec2.Subnet",
    "aws.ec2.InternetGateway",
    "aws.ec2.ElasticIp",
    "aws.ec2.NatGateway",
    "aws.ec2.RouteTable",
    "aws.ec2.SecurityGroup",
    "aws.ec2.KeyPair",
    "aws.secrets.Secret",
    "aws.s3.Bucket",
    "aws.iam.Role",
    "aws.iam.Policy",
    "aws.iam.InstanceProfile",
    "aws.ec2.Instance",
    "aws.ec2.Volume",
)
# Word added to a construct id that another resource already has.
_SUFFIX = {
    "aws.ec2.Vpc": "Vpc",
    "aws.ec2.Subnet": "Subnet",
    "aws.ec2.InternetGateway": "Igw",
    "aws.ec2.ElasticIp": "Ip",
    "aws.ec2.NatGateway": "Nat",
    "aws.ec2.RouteTable": "Routes",
    "aws.ec2.SecurityGroup": "Sg",
    "aws.ec2.KeyPair": "Key",
    "aws.secrets.Secret": "Secret",
    "aws.s3.Bucket": "Bucket",
    "aws.iam.Role": "Role",
    "aws.iam.Policy": "Policy",
    "aws.iam.InstanceProfile": "Profile",
    "aws.ec2.Instance": "Server",
    "aws.ec2.Volume": "Volume",
}
# Who claims a plain name first when two resources share it (a server named "db" keeps
# "Db"; its role becomes "DbRole").
_CLAIM_ORDER = (
    "aws.ec2.Instance",
    "aws.ec2.Vpc",
    "aws.ec2.Subnet",
    "aws.ec2.SecurityGroup",
    "aws.ec2.Volume",
    "aws.s3.Bucket",
    "aws.secrets.Secret",
    "aws.ec2.RouteTable",
    "aws.ec2.NatGateway",
    "aws.ec2.InternetGateway",
    "aws.ec2.ElasticIp",
    "aws.iam.Role",
    "aws.iam.InstanceProfile",
    "aws.iam.Policy",
    "aws.ec2.KeyPair",
)
_MODULES = {"ec2": "aws.ec2.", "iam": "aws.iam.", "s3": "aws.s3.", "secrets": "aws.secrets."}
_RESERVED = frozenset(
    {"self", "scope", "id", "kwargs", "app", "ec2", "iam", "s3", "secrets", "Any", "App"}
    | {"Construct", "Stack", "super", "print", "type", "list", "dict", "str", "int"}
)
_GROUP = "aws.ec2.SecurityGroup"
Key = tuple[str, str]  # (type, physical id): a role and its profile may share a name


def _words(text: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def construct_id(text: str) -> str:
    """A construct id from a human name: words capitalised and joined.

    Example:
        >>> construct_id("legacy-db (old)")
        'LegacyDbOld'
    """
    words = _words(text)
    joined_words = "".join(w[:1].upper() + w[1:] for w in words)
    return joined_words[:64] or "Resource"


def _variable(construct: str, suffix: str, taken: set[str]) -> str:
    snake = "_".join(w.lower() for w in _words(construct)) or "resource"
    if snake[0].isdigit():
        snake = f"r{snake}"
    if keyword.iskeyword(snake) or snake in _RESERVED:
        snake += f"_{suffix.lower()}"
    name, n = snake, 2
    while name in taken:
        name, n = f"{snake}_{n}", n + 1
    taken.add(name)
    return name


def _constant(text: str, taken: set[str]) -> str:
    base = "_".join(w.upper() for w in _words(text))[:40].strip("_") or "VALUE"
    if base[0].isdigit():
        base = f"V_{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _module_of(type_name: str) -> str:
    return next(m for m, prefix in _MODULES.items() if type_name.startswith(prefix))


def _class_of(type_name: str) -> str:
    return f"{_module_of(type_name)}.{type_name.rsplit('.', 1)[-1]}"


class _Writer:
    """One generation: names, variables, constants and the lines of ``__init__``."""

    def __init__(self, inventory: Inventory, stack: str) -> None:
        self.inventory = inventory
        self.stack = stack
        self.resources = sorted(
            inventory.resources,
            key=lambda r: (TYPE_ORDER.index(r.type), r.physical_id),
        )
        self.by_key = {r.key: r for r in self.resources}
        self.by_arn = {
            str(r.attributes["arn"]): r for r in self.resources if r.attributes.get("arn")
        }
        self.ids = self._construct_ids()
        self.used: set[Key] = set()  # what some code refers to
        self.variables: dict[Key, str] = {}
        self.constants: dict[str, tuple[str, str, str]] = {}  # value -> (name, comment, value)
        self._constant_names: set[str] = set()
        self.lines: list[str] = []
        self.defined: set[Key] = set()

    # -- names ---------------------------------------------------------------------------

    def _construct_ids(self) -> dict[Key, str]:
        """Construct ids: unique, and the same for the same inventory."""
        claimed: dict[Key, str] = {}
        taken: set[str] = set()
        ordered = sorted(
            self.resources,
            key=lambda r: (_CLAIM_ORDER.index(r.type), r.physical_id),
        )
        for res in ordered:
            base = construct_id(res.name) if res.name else _SUFFIX[res.type]
            candidate = base
            if candidate in taken:
                suffix = _SUFFIX[res.type]
                candidate = base if base.endswith(suffix) else f"{base}{suffix}"
            n = 2
            unique = candidate
            while unique in taken:
                unique, n = f"{candidate}{n}", n + 1
            taken.add(unique)
            claimed[res.key] = unique
        return claimed

    def variable(self, key: Key) -> str:
        if key not in self.variables:
            self.variables[key] = _variable(
                self.ids[key], _SUFFIX[key[0]], set(self.variables.values())
            )
        return self.variables[key]

    def constant(self, value: str, hint: str, comment: str = "") -> Name:
        if value not in self.constants:
            name = _constant(hint, self._constant_names)
            self.constants[value] = (name, comment, value)
        return Name(self.constants[value][0])

    # -- values --------------------------------------------------------------------------

    def ref(self, type_name: str, physical_id: str) -> Name:
        key = (type_name, physical_id)
        self.used.add(key)
        return Name(self.variable(key))

    def refs(self, type_name: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.ref(type_name, v) for v in value]
        return self.ref(type_name, value)

    def arn_text(self, text: str) -> Any:
        """An ARN of an imported resource as ``res.arn`` (or an f-string around it)."""
        for known, res in self.by_arn.items():
            if text == known:
                return Name(f"{self.ref(*res.key).text}.arn")
            if text.startswith(known + "/"):
                rest = text[len(known) :].replace("{", "{{").replace("}", "}}")
                return Name(f'f"{{{self.ref(*res.key).text}.arn}}{rest}"')
        return text

    def rule(self, value: Mapping[str, Any]) -> Call:
        protocol = value["protocol"]
        source = str(value["source"])
        kwargs: list[tuple[str, Any]] = [
            ("source", self.ref(_GROUP, source) if source.startswith("sg-") else source)
        ]
        if value.get("description"):
            kwargs.append(("description", value["description"]))
        low, high = int(value["from_port"]), int(value["to_port"])
        if protocol == "all":
            return Call("ec2.Rule.all_traffic", (), tuple(kwargs))
        if protocol == "icmp":
            args: tuple[Any, ...] = () if (low, high) == (-1, -1) else (low, high)
            if args and high == -1:
                args = (low,)
            return Call("ec2.Rule.icmp", args, tuple(kwargs))
        args = (low,) if low == high else (low, high)
        return Call(f"ec2.Rule.{protocol}", args, tuple(kwargs))

    def value(self, res: Discovered, name: str, value: Any) -> Any:
        type_name = res.type
        target = REFERENCE_TYPES.get(type_name, {}).get(name)
        if target is not None:
            return self.refs(target, value)
        if type_name == "aws.ec2.Instance" and name == "image":
            comment = self.inventory.images.get(value, "")
            users = sorted(
                self.ids[r.key]
                for r in self.resources
                if r.type == type_name and r.properties.get("image") == value and not r.lookup
            )
            if len(users) == 1:
                hint = f"{users[0]} image"
            else:
                hint = " ".join(_words(comment)[:3] or [value]) + " image"
            return self.constant(value, hint, comment)
        if type_name == "aws.ec2.KeyPair" and name == "public_key":
            return self.constant(value, f"{self.ids[res.key]} public key")
        if name == "routes":
            return [
                Call(
                    "ec2.Route",
                    (),
                    (
                        ("destination", r["destination"]),
                        ("gateway", self.ref(str(gateway_type(r["gateway"])), r["gateway"])),
                    ),
                )
                for r in value
            ]
        if name == "statements":
            return [self.statement(s) for s in value]
        if name == "tags":
            return {k: v for k, v in sorted(value.items())}
        return value

    def statement(self, value: Mapping[str, Any]) -> Call:
        kwargs: list[tuple[str, Any]] = [
            ("actions", list(value.get("actions", []))),
            ("resources", [self.arn_text(str(r)) for r in value.get("resources", [])]),
        ]
        if value.get("effect", "Allow") != "Allow":
            kwargs.append(("effect", value["effect"]))
        return Call("iam.Statement", (), tuple(kwargs))

    # -- resources -----------------------------------------------------------------------

    def kwargs(self, res: Discovered) -> list[tuple[str, Any]]:
        cls = resource_type(res.type)
        out: list[tuple[str, Any]] = []
        for name, field in cls._props.items():
            value = res.properties.get(name)
            if name == "tags":
                value = {
                    k: v
                    for k, v in res.tags.items()
                    if k not in SYSTEM_TAG_KEYS and not k.lower().startswith(("aws:", "infradsl:"))
                }
            if value is None or value == _default(field):
                continue
            if name in ("ingress", "egress"):
                continue  # see `security_group`
            out.append((name, self.value(res, name, value)))
        return out

    def emit(self, res: Discovered, kwargs: Sequence[tuple[str, Any]]) -> None:
        call = Call(_class_of(res.type), (Name("self"), self.ids[res.key]), tuple(kwargs))
        head = f"{self.variable(res.key)} = " if res.key in self.used else ""
        self.lines.append(statement(call, indent=8, head=head))
        self.defined.add(res.key)

    def lookup(self, res: Discovered) -> None:
        if res.type == "aws.iam.Role":
            query: tuple[tuple[str, Any], ...] = (("name", res.physical_id),)
        else:
            query = (("id", res.physical_id),)
        call = Call(f"{_class_of(res.type)}.lookup", (Name("self"), self.ids[res.key]), query)
        self.lines.append(statement(call, indent=8, head=f"{self.variable(res.key)} = "))
        self.defined.add(res.key)

    def security_groups(self, groups: Sequence[Discovered]) -> None:
        """Groups in an order where the groups a rule names come first; a rule naming a
        group not defined yet (a cycle, or the group itself) is appended once it is."""
        pending: dict[Key, list[tuple[Key, str, Call]]] = {}
        remaining = sorted(groups, key=lambda g: self.ids[g.key])
        while remaining:
            ready = next(
                (
                    g
                    for g in remaining
                    if all(
                        s in self.defined or s == g.key or s not in self.by_key for s in _sources(g)
                    )
                ),
                remaining[0],
            )
            remaining.remove(ready)
            kwargs = self.kwargs(ready)
            for direction in ("ingress", "egress"):
                rules = ready.properties.get(direction)
                if rules is None:
                    continue
                inline: list[Call] = []
                for rule in rules:
                    source = (_GROUP, str(rule["source"]))
                    if source[1].startswith("sg-") and source not in self.defined:
                        self.ref(*ready.key)
                        pending.setdefault(source, []).append(
                            (ready.key, direction, self.rule(rule))
                        )
                    else:
                        inline.append(self.rule(rule))
                if inline or direction == "egress":
                    kwargs.append((direction, inline))
            kwargs.sort(key=lambda kv: list(resource_type(ready.type)._props).index(kv[0]))
            self.emit(ready, kwargs)
            self._flush(pending.pop(ready.key, []))
        for rest in pending.values():
            self._flush(rest)

    def _flush(self, rules: Sequence[tuple[Key, str, Call]]) -> None:
        grouped: dict[tuple[Key, str], list[Call]] = {}
        for owner, direction, call in rules:
            grouped.setdefault((owner, direction), []).append(call)
        for (owner, direction), calls in grouped.items():
            target = f"{self.variable(owner)}.{direction}"
            if len(calls) == 1:
                self.lines.append(statement(Call(f"{target}.append", (calls[0],)), indent=8))
            else:
                self.lines.append(statement(Call(f"{target}.extend", (list(calls),)), indent=8))


def _sources(group: Discovered) -> list[Key]:
    return [
        (_GROUP, str(rule["source"]))
        for direction in ("ingress", "egress")
        for rule in group.properties.get(direction) or ()
        if str(rule["source"]).startswith("sg-")
    ]


def _default(field: Any) -> Any:
    default = field.default
    factory = getattr(default, "factory", None)
    return factory() if factory is not None else default


def _referenced(resources: Iterable[Discovered]) -> set[Key]:
    """What some resource's code will name (so it needs a variable)."""
    found: set[Key] = set()
    for res in resources:
        if not res.lookup:
            found.update(references(res.type, res.properties))
    return found


def generate(
    inventory: Inventory,
    *,
    stack: str,
    region: str,
    command: str,
    notes: Sequence[str] = (),
) -> Generated:
    """The module for ``inventory``: a `Stack` subclass named after ``stack`` and an `App`.

    Args:
        inventory: what to manage (and what to look up); its ``skipped`` entries are
            listed in the header.
        stack: the stack name.
        region: the stack's region.
        command: the command line that made it, quoted in the header.
        notes: more header lines about what was not imported.
    """
    writer = _Writer(inventory, stack)
    managed = [r for r in writer.resources if not r.lookup]
    writer.used |= _referenced(writer.resources)
    # Arns named in policies need their owner's variable before the lines are written.
    for res in managed:
        if res.type == "aws.iam.Policy":
            for st in res.properties.get("statements", []):
                for text in st.get("resources", []):
                    writer.arn_text(str(text))
    for res in writer.resources:
        if res.lookup and res.key in writer.used:
            writer.lookup(res)
    groups = [r for r in managed if r.type == "aws.ec2.SecurityGroup"]
    # An address given to an instance comes after the instances.
    late = [r for r in managed if r.type == "aws.ec2.ElasticIp" and r.properties.get("instance")]
    for type_name in TYPE_ORDER:
        if type_name == "aws.ec2.SecurityGroup":
            writer.security_groups(groups)
            continue
        for res in managed:
            if res.type == type_name and res not in late:
                writer.emit(res, writer.kwargs(res))
        if type_name == "aws.ec2.Instance":
            for res in late:
                writer.emit(res, writer.kwargs(res))
    paths = {writer.ids[r.key]: r.key for r in managed}
    lookups = {
        writer.ids[r.key]: r.key for r in writer.resources if r.lookup and r.key in writer.defined
    }
    source = _module(writer, inventory, stack, region, command, notes)
    return Generated(source=source, paths=paths, lookups=lookups)


def _class_name(stack: str) -> str:
    name = construct_id(stack)
    if name[0].isdigit():
        name = f"Stack{name}"
    return name if name != "Stack" else "ImportedStack"


def _header(
    inventory: Inventory, stack: str, command: str, notes: Sequence[str], count: int
) -> list[str]:
    lines = comment_lines(
        f"Imported by `{command}` ({count} resources in {inventory.region}). State records "
        f"them as adopted by stack {stack!r}: `infradsl plan` right after the import shows "
        "no changes, and the first deploy only adds infradsl's tags (Name, infradsl:stack, "
        "infradsl:path) to them."
    )
    left = [*notes, *(_skipped_line(s) for s in inventory.skipped)]
    if any(r.type == "aws.ec2.Instance" and not r.lookup for r in inventory.resources):
        left.append(
            "user data of the instances: not read (AWS returns it one instance at a time); "
            "add user_data= by hand before an instance is replaced"
        )
    if left:
        lines.append("#")
        lines.extend(comment_lines("Not imported:"))
        for line in left:
            lines.extend(comment_lines(f"- {line}"))
    return lines


def _skipped_line(skipped: Skipped) -> str:
    return f"{skipped.what} {skipped.physical_id}: {skipped.reason}"


def _module(
    writer: _Writer,
    inventory: Inventory,
    stack: str,
    region: str,
    command: str,
    notes: Sequence[str],
) -> str:
    count = sum(1 for r in inventory.resources if not r.lookup)
    modules = sorted({_module_of(r.type) for r in inventory.resources if r.key in writer.defined})
    parts = _header(inventory, stack, command, notes, count)
    parts += ["", "from typing import Any", ""]
    parts.append("from infradsl import App, Construct, Stack")
    if modules:
        parts.append(f"from infradsl.aws import {', '.join(modules)}")
    if writer.constants:
        parts.append("")
        for name, comment, value in sorted(writer.constants.values()):
            if comment:
                parts.extend(comment_lines(f"{value}: {comment}"))
            parts.append(statement(Name(literal(value)), head=f"{name} = "))
    class_name = _class_name(stack)
    parts += ["", ""]
    parts.append(f"class {class_name}(Stack):")
    scope = inventory_scope(inventory)
    parts.append(f'    """What ran in {region}{scope} before infradsl managed it."""')
    parts.append("")
    parts.append("    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:")
    parts.append("        super().__init__(scope, id, **kwargs)")
    parts.extend(writer.lines)
    parts += ["", ""]
    parts.append("app = App()")
    parts.append(statement(Call(class_name, (Name("app"), stack), (("region", region),))))
    return joined(parts)


def inventory_scope(inventory: Inventory) -> str:
    """`` (VPC vpc-...)`` when the inventory holds exactly one managed VPC, else ``""``."""
    vpcs = [r.physical_id for r in inventory.resources if r.type == "aws.ec2.Vpc" and not r.lookup]
    return f" (VPC {vpcs[0]})" if len(vpcs) == 1 else ""
