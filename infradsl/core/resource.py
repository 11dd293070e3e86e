"""The resource base class, property declarations and resource options."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from infradsl.core._signature import constructor_signature
from infradsl.core.construct import Construct, did_you_mean
from infradsl.core.reference import Reference, attribute, holds_reference

__all__ = ["Resource", "ResourceOptions", "is_literal", "prop", "resource", "resource_type"]

R = TypeVar("R", bound=type)
# A property validator: ``check(name, value)`` raises ValueError with the message.
Check = Callable[[str, Any], None]

_OPTION_NAMES = (
    "depends_on",
    "protect",
    "ignore_changes",
    "replace_on_changes",
    "delete_before_replace",
    "retain_on_delete",
    "aliases",
)


@attrs.frozen
class ResourceOptions:
    """Options every resource accepts, as keyword arguments next to its properties.

    Attributes:
        depends_on: extra dependencies (resources or whole constructs) beyond references.
        protect: refuse to delete or replace the resource.
        ignore_changes: property names whose changes the planner ignores.
        replace_on_changes: property names whose change forces a replacement.
        delete_before_replace: delete the old resource before creating its replacement
            (for resources whose name must be unique).
        retain_on_delete: on delete, forget the resource but leave it in the cloud.
        aliases: former logical ids (``"Old/Path"``) so a rename is not a replacement.
    """

    depends_on: tuple[Construct, ...] = ()
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    aliases: tuple[str, ...] = ()


_NO_OPTIONS = ResourceOptions()


def prop(
    *types: type,
    items: tuple[type, ...] = (),
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    check: Check | None = None,
    replace: bool = False,
    computed: bool = False,
) -> Any:
    """Declare a resource property.

    Args:
        types: accepted Python types; a `Reference` is accepted for scalar types and for a
            resource type when it points at a resource of that type.
        items: accepted types of list items or dict values.
        default: default value (omit for a required property).
        factory: default factory for mutable defaults.
        check: validator ``check(name, value)`` raising ``ValueError`` with the message.
        replace: a change of this property forces replacement of the resource.
        computed: set by the resource itself (a content hash), never by the user: not a
            constructor parameter, and passing it is a problem.
    """
    metadata = {"types": types, "items": items, "check": check, "replace": replace}
    if computed:
        metadata["computed"] = True
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata, kw_only=True)
    return attrs.field(default=default, metadata=metadata, kw_only=True)


_TYPES: dict[str, type[Resource]] = {}


def resource_type(type_name: str) -> type[Resource]:
    """The class declared for a synthesized type name (``"aws.ec2.Vpc"``).

    Only types whose module was imported are known; `infradsl.aws.resource_type` is the
    same lookup with the whole catalog imported.

    Raises:
        KeyError: no such type; the message suggests close names.
    """
    if type_name not in _TYPES:
        raise KeyError(f"unknown resource type {type_name!r}{did_you_mean(type_name, _TYPES)}")
    return _TYPES[type_name]


def resource(type_name: str) -> Callable[[R], R]:
    """Class decorator declaring a resource type with its synthesized type name."""

    def wrap(cls: R) -> R:
        cls = attrs.define(cls, kw_only=True, init=False, eq=False, repr=False, slots=False)
        fields = attrs.fields(cls)
        clash = [f.name for f in fields if f.name in _OPTION_NAMES]
        if clash:
            raise TypeError(f"{type_name}: property names {clash} are reserved for options")
        cls.__infradsl_type__ = type_name  # type: ignore[attr-defined]
        _TYPES[type_name] = cls
        cls._props = {f.name: f for f in fields}  # type: ignore[attr-defined]
        # What construction checks per property, read once here rather than per value.
        cls._specs = {  # type: ignore[attr-defined]
            f.name: (
                f.metadata.get("types", ()),
                f.metadata.get("items", ()),
                f.metadata.get("check"),
            )
            for f in fields
            if not f.metadata.get("computed")
        }
        cls._computed = frozenset(  # type: ignore[attr-defined]
            f.name for f in fields if f.metadata.get("computed")
        )
        cls._required = tuple(  # type: ignore[attr-defined]
            f.name for f in fields if f.default is attrs.NOTHING
        )
        cls._attributes = tuple(  # type: ignore[attr-defined]
            sorted(
                name
                for klass in cls.__mro__
                for name, value in vars(klass).items()
                if isinstance(value, attribute)
            )
        )
        return cls

    return wrap


def is_literal(value: Any) -> bool:
    """True when a value is known at synth time (not a reference, no reference inside)."""
    if isinstance(value, Reference):
        return False
    if isinstance(value, str):
        # Every token, whole or damaged, has "${" or ":" (checked first: most values).
        return ("${" not in value and ":" not in value) or not holds_reference(value)
    return True


def _type_names(types: Iterable[type]) -> str:
    names = [getattr(t, "__infradsl_type__", t.__name__) for t in types]
    return " or ".join(names)


def _type_problem(name: str, value: Any, types: tuple[type, ...]) -> str | None:
    if not types or value is None:
        return None
    if isinstance(value, Reference):
        resource_types = tuple(t for t in types if hasattr(t, "__infradsl_type__"))
        if resource_types:
            if isinstance(value.target, resource_types):
                return None
            return (
                f"{name!r} must be {_type_names(types)} (got a reference to "
                f"{value.target.__infradsl_type__} {value.target.logical_id!r})"
            )
        if any(t in (str, int) for t in types):
            return None
    if isinstance(value, bool) and bool not in types:
        return f"{name!r} must be {_type_names(types)} (got bool {value!r})"
    if isinstance(value, types):
        return None
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return None
    if list in types and isinstance(value, tuple):
        return None
    shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
    return f"{name!r} must be {_type_names(types)} (got {type(value).__name__} {shown})"


class _Signature:
    """``inspect.signature(cls)`` of a resource class, built when first asked for.

    Every class declared with `resource` gets its own, from its props (see
    `infradsl.core._signature`), and so does an undeclared subclass that keeps its
    constructor; for any other class, inspect reads ``__init__``.
    """

    def __get__(self, instance: object, owner: type) -> inspect.Signature | None:
        if instance is not None:
            return None
        for klass in owner.__mro__:
            if "__init__" in vars(klass):  # Resource's own, or a subclass's hand-written one
                return None
            if "__attrs_attrs__" in vars(klass):
                found = vars(klass).get("_signature")
                if not isinstance(found, inspect.Signature):
                    found = constructor_signature(klass)
                    klass._signature = found  # type: ignore[attr-defined]
                return found
        return None


class Resource(Construct):
    """Base of every resource type: a construct with typed properties and attributes.

    Subclasses are declared with `resource` and `prop`. Every resource accepts the
    options of `ResourceOptions` as keyword arguments next to its properties.
    """

    __infradsl_type__: ClassVar[str] = "aws.Resource"
    # List properties whose elements can be applied by an update after the resource exists
    # (a group's rules): a reference found only there is a *deferred* dependency, so
    # resources that reference each other through them form no cycle (the engine creates
    # both, then applies those elements).
    __infradsl_deferrable__: ClassVar[tuple[str, ...]] = ()
    _props: ClassVar[dict[str, attrs.Attribute[Any]]] = {}
    # Per property: (accepted types, item types, check), from its `prop` declaration.
    _specs: ClassVar[dict[str, tuple[tuple[type, ...], tuple[type, ...], Check | None]]] = {}
    _required: ClassVar[tuple[str, ...]] = ()
    _computed: ClassVar[frozenset[str]] = frozenset()
    _attributes: ClassVar[tuple[str, ...]] = ()
    __signature__: ClassVar[_Signature] = _Signature()

    id = attribute("The physical id of the resource (set at deploy time).")

    options: ResourceOptions
    logical_id: str

    def __init__(self, scope: Construct, id: str, /, **kwargs: Any) -> None:
        super().__init__(scope, id)
        stack = self.node.stack
        if stack is None:
            self.logical_id = self.node.path
            self.node.add_problem(
                f"{type(self).__name__} {id!r} is not inside a Stack: create resources in a "
                "Stack (or in a component inside one)"
            )
        else:
            self.logical_id = self.node.path[len(stack.node.path) + 1 :]
        options = (
            {}
            if kwargs.keys().isdisjoint(_OPTION_NAMES)
            else {k: kwargs.pop(k) for k in _OPTION_NAMES if k in kwargs}
        )
        self._prepare(kwargs)
        cls = type(self)
        props = cls._props
        specs = cls._specs
        values: dict[str, Any] = {}
        for name, value in kwargs.items():
            spec = specs.get(name)
            if spec is None:
                if name in cls._computed:
                    self.node.add_problem(
                        f"{name!r} is computed by infradsl, not an argument of "
                        f"{self.__infradsl_type__}: remove it"
                    )
                    continue
                names = [p for p in props if p not in cls._computed] + list(_OPTION_NAMES)
                hint = did_you_mean(name, names)
                self.node.add_problem(
                    f"unknown property {name!r} for {self.__infradsl_type__}{hint}"
                )
                continue
            types, items, check = spec
            # An exact type that is declared needs no further type test (the common case).
            problem = None if type(value) in types else _type_problem(name, value, types)
            if problem is None and items and value is not None:
                problem = self._items_problem(name, value, items)
            if problem is None and check is not None and value is not None:
                try:
                    check(name, value)
                except (ValueError, TypeError) as exc:
                    problem = str(exc)
            if problem is not None:
                self.node.add_problem(problem)
            if isinstance(value, tuple) and list in types:
                value = list(value)
            values[name] = value
        for name in cls._required:
            if name not in values:
                if name not in kwargs:
                    self.node.add_problem(
                        f"missing required property {name!r} for {self.__infradsl_type__}"
                    )
                values[name] = None
        self.__attrs_init__(**values)  # type: ignore[attr-defined]
        # Most resources set no option: they share one (frozen) default.
        self.options = self._make_options(options) if options else _NO_OPTIONS
        self._finish()

    # A subclass customizes construction through these two hooks, never by overriding
    # __init__: its constructor signature is generated from the props (tools/signatures.py).

    def _prepare(self, properties: dict[str, Any]) -> None:
        """Hook run before the properties are checked and set.

        Args:
            properties: the keyword arguments other than options; may be changed in place
                (the node exists, so problems may be recorded with ``self.node.add_problem``).
        """

    def _finish(self) -> None:
        """Hook run once the properties and options are set: add implicit children."""

    @staticmethod
    def _items_problem(name: str, value: Any, items: tuple[type, ...]) -> str | None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{name!r} keys must be str (got {type(key).__name__} {key!r})"
                problem = _type_problem(f"{name}[{key!r}]", item, items)
                if problem:
                    return problem
        elif isinstance(value, Sequence) and not isinstance(value, str):
            for index, item in enumerate(value):
                problem = _type_problem(f"{name}[{index}]", item, items)
                if problem:
                    return problem
        return None

    def _make_options(self, options: dict[str, Any]) -> ResourceOptions:
        props = type(self)._props
        clean: dict[str, Any] = {}
        for key in ("protect", "delete_before_replace", "retain_on_delete"):
            if key in options:
                if not isinstance(options[key], bool):
                    self.node.add_problem(
                        f"option {key!r} must be True or False (got {options[key]!r})"
                    )
                else:
                    clean[key] = options[key]
        for key in ("ignore_changes", "replace_on_changes"):
            names = options.get(key, ())
            if isinstance(names, str):
                names = (names,)
            for n in names:
                if n not in props:
                    self.node.add_problem(
                        f"option {key!r} names unknown property {n!r} of "
                        f"{self.__infradsl_type__}{did_you_mean(str(n), props)}"
                    )
            clean[key] = tuple(n for n in names if n in props)
        deps = options.get("depends_on", ())
        if isinstance(deps, Construct):
            deps = (deps,)
        for d in deps:
            if not isinstance(d, Construct):
                self.node.add_problem(
                    f"option 'depends_on' takes resources or constructs (got "
                    f"{type(d).__name__} {d!r})"
                )
        clean["depends_on"] = tuple(d for d in deps if isinstance(d, Construct))
        aliases = options.get("aliases", ())
        if isinstance(aliases, str):
            aliases = (aliases,)
        clean["aliases"] = tuple(str(a) for a in aliases)
        return ResourceOptions(**clean)

    def property_values(self) -> dict[str, Any]:
        """The declared properties and their values (``None`` for unset optional ones)."""
        return {name: getattr(self, name) for name in type(self)._props}

    def validate(self) -> Iterable[str]:
        """Checks that need the whole resource; yields problem messages. Run at synth."""
        return ()

    @classmethod
    def validate_all(cls, resources: Sequence[Resource]) -> Iterable[tuple[Resource, str]]:
        """Checks across every resource of this type in the app (overlaps, uniqueness)."""
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node.path!r})"
