"""What the generic layers know about a resource type, as plain data: `TypeInfo`.

The planner, the confirmation policy and the synthesizer ask for a type's description by
its name (``"aws.ec2.Instance"``) and never import the catalog (`infradsl.aws`) to get it:
the descriptions of a namespace are read, on first use, from the data file next to its
declarations (``infradsl/aws/typeinfo.json``). A type declared outside that file (a
user's or a test's own `~infradsl.core.resource.resource`) is described from its class.

The data file is generated from the declarations (``pytest tests/core/test_typeinfo.py
--update-golden`` rewrites it; the same test fails while it is stale), and its shape
follows the CloudFormation registry schemas (``primaryIdentifier``,
``createOnlyProperties``, ``readOnlyProperties``, ``writeOnlyProperties``), so that it
could later be generated from them: paths are property names joined with ``/``, ``*``
standing for any list item or map key (``ingress/*/protocol``).

Example:
    >>> info = TypeInfo(name="demo.Thing", create_only=("size", "rules/*/protocol"))
    >>> info.create_only_of("rules")
    (('rules', '*', 'protocol'),)
    >>> TypeInfo.from_json("demo.Thing", info.to_json()) == info
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from infradsl.core.construct import did_you_mean
from infradsl.core.resource import Resource, resource_type

__all__ = [
    "FORMAT",
    "TypeInfo",
    "TypeInfoError",
    "data_path",
    "derive_type_info",
    "find_type_info",
    "from_registry_schema",
    "register_type_info",
    "try_find_type_info",
    "type_info",
    "unregister_type_info",
]

FORMAT = 1
"""The version of the data file's layout (its ``infradsl_typeinfo`` key)."""

_DERIVED = {"derived": True}


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _pair(value: Iterable[str] | None) -> tuple[str, str] | None:
    if value is None:
        return None
    items = tuple(str(v) for v in value)
    if len(items) != 2:
        raise ValueError(f"expected two property names (got {list(items)!r})")
    return (items[0], items[1])


_NO_HINTS: Mapping[str, str] = MappingProxyType({})


def _hints(value: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a map of property names to text (got {value!r})")
    return {str(k): str(v) for k, v in value.items()}


class TypeInfoError(ValueError):
    """A type description (or its data file) is malformed."""


@attrs.frozen(kw_only=True)
class TypeInfo:
    """The description of one resource type that generic code reads.

    Fields marked *derived* are computed from the declaration (`derive_type_info`) and
    checked against it by a test; the others are written by hand in the data file (the
    generator keeps them). To add a field: give it a default here (every existing
    description stays valid), set it in the data file where it differs, and read it
    where it is needed; `to_json` and `from_json` follow the fields.

    Attributes:
        name: the synthesized type name (``aws.ec2.Vpc``).
        properties: the declared property names, in declaration order (*derived*).
        create_only: paths whose change replaces the resource: ``prop(replace=True)``
            properties, and fields of value objects declared with ``replace`` metadata
            (``rule/protocol``; ``ingress/*/protocol`` under a list) (*derived*).
            CloudFormation's ``createOnlyProperties``.
        read_only: the attributes the cloud sets (``id``, ``arn``...) (*derived*).
            CloudFormation's ``readOnlyProperties``.
        deferrable: list properties whose elements are applied by an update after the
            resource exists, so references in them make no dependency cycle (*derived*).
        taggable: the type has ``tags`` (and gets infradsl's system tags) (*derived*).
        identifier: the attributes that identify a resource in the cloud.
            CloudFormation's ``primaryIdentifier``.
        write_only: paths the cloud never returns (never compared for drift).
            CloudFormation's ``writeOnlyProperties``.
        widens_permissions: creating or changing it can grant access (IAM, firewall
            rules): a deploy asks for confirmation.
        regional: its resources exist in one region (``False`` for IAM: usable from any).
        cycle_hints: property -> what to say after a dependency cycle that goes through
            that property of a resource of this type (how to break it).
        cidr_within: ``(parent property, CIDR property)``: when the parent is looked up,
            the CIDR must lie inside one of its ranges (a subnet in its VPC).
        stateful: the boolean property that marks a resource as holding data: replacing
            it needs a migration (``Instance.stateful``).
        migration: the property that holds what runs when the resource is replaced,
            between the new one's creation and the old one's deletion
            (``Instance.migration``).
        data_of: properties naming the resource whose data this one holds (a data
            volume's ``instance``): replacing that resource needs its migration.
        cross_region: properties that may name a resource of another region (an
            image's ``copy_of``): the region check of synthesis skips them.
        read_details: a batched refresh leaves some of its properties unread; drift
            detection reads them one by one (the discovery's ``details``).
        scopes_discovery: it contains other resources (a VPC): drift looks inside it
            for resources no stack manages.
        import_optional: reference properties it can be imported without (when their
            target can be neither imported nor looked up).
    """

    name: str
    properties: tuple[str, ...] = attrs.field(default=(), converter=_strings, metadata=_DERIVED)
    create_only: tuple[str, ...] = attrs.field(default=(), converter=_strings, metadata=_DERIVED)
    read_only: tuple[str, ...] = attrs.field(default=(), converter=_strings, metadata=_DERIVED)
    deferrable: tuple[str, ...] = attrs.field(default=(), converter=_strings, metadata=_DERIVED)
    taggable: bool = attrs.field(default=False, metadata=_DERIVED)
    identifier: tuple[str, ...] = attrs.field(default=("id",), converter=_strings)
    write_only: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    widens_permissions: bool = False
    regional: bool = True
    # (The default passes through the converter: each description gets its own dict.)
    cycle_hints: Mapping[str, str] = attrs.field(default=_NO_HINTS, converter=_hints)
    cidr_within: tuple[str, str] | None = attrs.field(default=None, converter=_pair)
    stateful: str | None = None
    migration: str | None = None
    data_of: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    cross_region: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    read_details: bool = False
    scopes_discovery: bool = False
    import_optional: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def create_only_of(self, name: str) -> tuple[tuple[str, ...], ...]:
        """The create-only paths that start at property ``name``, split into parts."""
        return self._split().get(name, ())

    def create_only_names(self) -> frozenset[str]:
        """The properties that hold a create-only path (asked once per planned resource:
        computed once per description)."""
        key = (self.name, self.create_only)
        found = _NAMES.get(key)
        if found is None:
            found = _NAMES[key] = frozenset(self._split())
        return found

    def _split(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        key = (self.name, self.create_only)
        found = _SPLIT.get(key)
        if found is None:
            by_name: dict[str, list[tuple[str, ...]]] = {}
            for path in self.create_only:
                parts = tuple(path.split("/"))
                by_name.setdefault(parts[0], []).append(parts)
            found = _SPLIT[key] = {k: tuple(v) for k, v in by_name.items()}
        return found

    def to_json(self) -> dict[str, Any]:
        """Plain data: the fields that differ from their defaults (``name`` is the key)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(TypeInfo):
            if field.name == "name":
                continue
            value = getattr(self, field.name)
            if value != field.default:
                out[field.name] = (
                    list(value)
                    if isinstance(value, tuple)
                    else dict(value)
                    if isinstance(value, Mapping)
                    else value
                )
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> TypeInfo:
        """The description of ``name`` from `to_json`'s form.

        Raises:
            TypeInfoError: an unknown field or a value of the wrong shape.
        """
        known = {f.name for f in attrs.fields(TypeInfo)} - {"name"}
        for key in data:
            if key not in known:
                raise TypeInfoError(
                    f"type {name!r}: unknown field {key!r}{did_you_mean(key, known)}"
                )
        try:
            return cls(name=name, **data)
        except (TypeError, ValueError) as exc:
            raise TypeInfoError(f"type {name!r}: {exc}") from None

    def derived(self) -> dict[str, Any]:
        """The *derived* fields and their values (what a declaration determines)."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(TypeInfo)
            if f.metadata.get("derived")
        }


def from_registry_schema(name: str, schema: Mapping[str, Any]) -> TypeInfo:
    """A description from a CloudFormation registry schema (as cfn-lint ships them).

    ``primaryIdentifier``, ``createOnlyProperties``, ``readOnlyProperties`` and
    ``writeOnlyProperties`` become ``identifier``, ``create_only``, ``read_only`` and
    ``write_only``: ``/properties/`` dropped, each name in snake case, ``*`` kept
    (``/properties/SecurityGroupIngress/*/CidrIp`` -> ``security_group_ingress/*/cidr_ip``).
    CloudFormation's names are not always infradsl's (``VpcId`` is ``vpc`` here): the
    result is where a new type's description starts, to be checked against its
    declaration.

    Example:
        >>> schema = {"primaryIdentifier": ["/properties/GroupId"],
        ...           "createOnlyProperties": ["/properties/VpcId"]}
        >>> from_registry_schema("aws.ec2.X", schema).create_only
        ('vpc_id',)
    """

    def paths(key: str) -> tuple[str, ...]:
        return tuple(
            "/".join(_snake(part) for part in path.removeprefix("/properties/").split("/"))
            for path in schema.get(key) or ()
        )

    return TypeInfo(
        name=name,
        identifier=paths("primaryIdentifier"),
        create_only=paths("createOnlyProperties"),
        read_only=paths("readOnlyProperties"),
        write_only=paths("writeOnlyProperties"),
        properties=tuple(_snake(p) for p in schema.get("properties") or ()),
    )


def _snake(name: str) -> str:
    """``SecurityGroupIngress`` -> ``security_group_ingress``, ``CidrIpv6`` -> ``cidr_ipv6``,
    ``KMSKeyId`` -> ``kms_key_id``; ``*`` stays."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


# (type name, create_only) -> create-only paths split and grouped by property.
_SPLIT: dict[tuple[str, tuple[str, ...]], dict[str, tuple[tuple[str, ...], ...]]] = {}
# (type name, create_only) -> the properties among them.
_NAMES: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}
# Namespace ("aws") -> its descriptions from the data file, once read.
_LOADED: dict[str, dict[str, TypeInfo]] = {}
# Descriptions registered by code (tests, plugins): they win over the data file.
_REGISTERED: dict[str, TypeInfo] = {}
# Descriptions derived from classes declared outside a data file.
_DERIVED_CACHE: dict[type, TypeInfo] = {}


def data_path(namespace: str) -> Path:
    """The data file of a namespace's types: ``infradsl/<namespace>/typeinfo.json``."""
    return Path(__file__).resolve().parents[1] / namespace / "typeinfo.json"


def _load(namespace: str) -> dict[str, TypeInfo]:
    found = _LOADED.get(namespace)
    if found is not None:
        return found
    found = {}
    path = data_path(namespace) if namespace.isidentifier() else None
    if path is not None and path.is_file():
        # Package data, read once per process like a module (no user file is read).
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("infradsl_typeinfo") != FORMAT:
            raise TypeInfoError(
                f"{path}: expected 'infradsl_typeinfo': {FORMAT} "
                f"(got {document.get('infradsl_typeinfo')!r})"
            )
        found = {name: TypeInfo.from_json(name, data) for name, data in document["types"].items()}
    _LOADED[namespace] = found
    return found


def register_type_info(info: TypeInfo) -> None:
    """Describe a type from code; it wins over the data file (tests, plugins)."""
    _REGISTERED[info.name] = info
    _FOUND.pop(info.name, None)


def unregister_type_info(name: str) -> None:
    """Forget a description given by `register_type_info` (a test's cleanup)."""
    _REGISTERED.pop(name, None)
    _FOUND.pop(name, None)


# Type name -> its description from a registration or a data file, once found: asked for
# every resource of a plan (and more), so one lookup answers.
_FOUND: dict[str, TypeInfo] = {}


def try_find_type_info(name: str) -> TypeInfo | None:
    """The description of type ``name``, or ``None`` when nothing describes it.

    Looked for in what was registered, then in the namespace's data file, then in the
    classes declared so far (a type declared outside the catalog).
    """
    found = _FOUND.get(name)
    if found is not None:
        return found
    found = _REGISTERED.get(name) or _load(name.partition(".")[0]).get(name)
    if found is not None:
        _FOUND[name] = found
        return found
    try:
        cls = resource_type(name)
    except KeyError:
        return None
    found = _DERIVED_CACHE.get(cls)
    if found is None:
        found = _DERIVED_CACHE[cls] = derive_type_info(cls)
    return found


def find_type_info(name: str) -> TypeInfo:
    """The description of type ``name``.

    Raises:
        KeyError: nothing describes it; the message suggests close names.
    """
    found = try_find_type_info(name)
    if found is None:
        known = [*_REGISTERED, *_load(name.partition(".")[0])]
        raise KeyError(f"unknown resource type {name!r}{did_you_mean(name, known)}")
    return found


def type_info(name: str) -> TypeInfo:
    """The description of type ``name``; a type nothing describes (one removed from the
    catalog but still in a state) gets the defaults: nothing create-only, not taggable."""
    found = try_find_type_info(name)
    return found if found is not None else TypeInfo(name=name)


def derive_type_info(cls: type[Resource], base: TypeInfo | None = None) -> TypeInfo:
    """The description a class declares, with the hand-written fields of ``base``.

    Derived: the property names, the create-only paths (``prop(replace=True)``, and the
    fields of value objects (attrs classes) a property takes whose metadata has
    ``replace``), the attributes, the deferrable properties and whether it has tags.
    """
    create_only: list[str] = []
    for name, field in cls._props.items():
        if field.metadata.get("replace"):
            create_only.append(name)
            continue
        create_only.extend(_nested_create_only(name, field.metadata))
    name = cls.__infradsl_type__
    start = base if base is not None else TypeInfo(name=name)
    return attrs.evolve(
        start,
        name=name,
        properties=tuple(cls._props),
        create_only=tuple(create_only),
        read_only=tuple(cls._attributes),
        deferrable=tuple(cls.__infradsl_deferrable__),
        taggable="tags" in cls._props,
    )


def _nested_create_only(prefix: str, metadata: Mapping[str, Any]) -> list[str]:
    """Create-only paths inside the value objects a property takes: ``prefix/field`` for
    a value object, ``prefix/*/field`` for the items of a list or map."""
    found: list[str] = []
    for key, where in (("types", prefix), ("items", f"{prefix}/*")):
        for kind in metadata.get(key, ()):
            # A resource there is a reference to another resource, not a value object.
            if not (isinstance(kind, type) and attrs.has(kind)) or issubclass(kind, Resource):
                continue
            for field in attrs.fields(kind):
                path = f"{where}/{field.name}"
                if field.metadata.get("replace"):
                    found.append(path)
                else:
                    found.extend(_nested_create_only(path, field.metadata))
    return found
