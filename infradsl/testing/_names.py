"""Turning what a test passes (a class, a resource, a string) into the names a document uses."""

from __future__ import annotations

from collections.abc import Iterable

from infradsl.core.construct import closest

__all__ = ["did_you_mean", "path_of", "type_name"]


def type_name(t: str | type) -> str:
    """The document type name (``aws.ec2.Vpc``) of a type name or a resource class.

    Raises:
        TypeError: ``t`` is neither a string nor something with a ``__infradsl_type__``.
    """
    if isinstance(t, str):
        return t
    name = getattr(t, "__infradsl_type__", None)
    if not isinstance(name, str):
        raise TypeError(
            "expected a type name like 'aws.ec2.Vpc' or a resource class with "
            f"__infradsl_type__ (got {t!r})"
        )
    return name


def path_of(resource: object) -> str:
    """The path of a resource in its stack (``Net/Vpc``), given the path or the resource.

    Raises:
        TypeError: ``resource`` is neither a string nor something with a ``logical_id``.
    """
    if isinstance(resource, str):
        return resource
    path = getattr(resource, "logical_id", None)
    if not isinstance(path, str):
        raise TypeError(
            "expected a resource path like 'Net/Vpc' or a resource with .logical_id "
            f"(got {resource!r})"
        )
    return path


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    match = closest(name, choices)
    return f"; did you mean {match!r}?" if match is not None else ""
