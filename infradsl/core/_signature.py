"""The constructor signature of a resource class, derived from its `prop` declarations.

Construction accepts more than a property's declared type: a reference where a string,
an int or a resource is expected (``vpc=other.id``), any sequence where a list is, and
``None`` for every optional property. The annotations written here say exactly that, so
a user's valid stack passes a type checker and a misspelt keyword or a wrong type does not.

One description serves two readers: `inspect.signature` (IPython, debuggers, the tests)
through ``Resource.__signature__``, and ``tools/signatures.py``, which writes the same
parameters as the typed ``__init__`` that type checkers and editors read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs

from infradsl.core.construct import Construct
from infradsl.core.reference import Reference

if TYPE_CHECKING:
    from infradsl.core.resource import Resource

__all__ = ["constructor_parameters", "constructor_signature"]

# How an annotation names a class: its bare name at run time; the generator's own
# function imports the class into the module it writes and answers the local name.
Namer = Callable[[type], str]
_CALLABLE = cast(type, Callable)

# The options every resource accepts (`ResourceOptions`), as construction takes them: a
# single name, resource or alias is accepted where a collection of them is.
_OPTIONS: tuple[tuple[str, Callable[[Namer], str], object], ...] = (
    ("depends_on", lambda n: f"{n(Construct)} | {n(Iterable)}[{n(Construct)}]", ()),
    ("protect", lambda n: "bool", False),
    ("ignore_changes", lambda n: f"str | {n(Iterable)}[str]", ()),
    ("replace_on_changes", lambda n: f"str | {n(Iterable)}[str]", ()),
    ("delete_before_replace", lambda n: "bool", False),
    ("retain_on_delete", lambda n: "bool", False),
    ("aliases", lambda n: f"str | {n(Iterable)}[str]", ()),
)


def _bare_name(cls: type) -> str:
    return cls.__name__


def _accepted(types: Iterable[type], name: Namer) -> list[str]:
    """The union members for a value of one of ``types`` (a scalar or an item)."""
    members: list[str] = []
    takes_reference = False
    for t in types:
        if t in (str, int, float, bool, bytes, object):
            members.append(t.__name__)
            takes_reference = takes_reference or t in (str, int)
        elif t is _CALLABLE:
            members.append(f"{name(_CALLABLE)}[..., object]")
        else:
            members.append(name(t))
            # A resource type also takes a reference to a resource of that type.
            takes_reference = takes_reference or hasattr(t, "__infradsl_type__")
    if takes_reference:
        members.append(name(Reference))
    return members or ["object"]


def _annotation(
    types: tuple[type, ...], items: tuple[type, ...], optional: bool, name: Namer
) -> str:
    """What construction accepts for a property declared with ``prop(*types, items=...)``."""
    members: list[str] = []
    scalars = [t for t in types if t not in (list, tuple, dict)]
    if scalars or not types:
        members += _accepted(scalars, name) if scalars else ["object"]
    item = " | ".join(_accepted(items, name)) if items else "object"
    if list in types or tuple in types:
        # A list property takes a tuple as well (stored as a list).
        members.append(f"{name(Sequence)}[{item}]")
    if dict in types:
        members.append(f"{name(Mapping)}[str, {item}]")
    if optional and "object" not in members:
        members.append("None")
    return " | ".join(dict.fromkeys(members))


def _inherited(field: attrs.Attribute[Any]) -> bool:
    return bool(getattr(field, "inherited", False))


def _default(field: attrs.Attribute[Any]) -> object:
    default: Any = field.default
    if default is attrs.NOTHING:
        return inspect.Parameter.empty
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return inspect.Parameter.empty if default.takes_self else default.factory()
    return default


def constructor_parameters(
    cls: type[Resource], name: Namer = _bare_name
) -> list[inspect.Parameter]:
    """The parameters of ``cls(scope, id, /, *, <properties>, <options>)``.

    ``scope`` and ``id`` are positional-only; the properties follow in declaration
    order, the class's own before inherited ones (``tags``), then the options. A factory
    default (``tags={}``) is given as the value the factory makes.

    Args:
        cls: a class declared with `infradsl.core.resource.resource`.
        name: how an annotation names a class (its bare name by default).
    """
    kw = inspect.Parameter.KEYWORD_ONLY
    positional = inspect.Parameter.POSITIONAL_ONLY
    params = [
        inspect.Parameter("scope", positional, annotation=name(Construct)),
        inspect.Parameter("id", positional, annotation="str"),
    ]
    fields = [f for f in cls._props.values() if not f.metadata.get("computed")]
    for field in [f for f in fields if not _inherited(f)] + [f for f in fields if _inherited(f)]:
        default = _default(field)
        annotation = _annotation(
            tuple(field.metadata.get("types", ())),
            tuple(field.metadata.get("items", ())),
            default is None,
            name,
        )
        params.append(inspect.Parameter(field.name, kw, default=default, annotation=annotation))
    for option, annotation_of, default in _OPTIONS:
        params.append(
            inspect.Parameter(option, kw, default=default, annotation=annotation_of(name))
        )
    return params


def constructor_signature(cls: type[Resource]) -> inspect.Signature:
    """``inspect.signature(cls)`` for a resource class: see `constructor_parameters`."""
    return inspect.Signature(constructor_parameters(cls))
