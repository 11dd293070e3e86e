"""Pieces shared by the resource declarations of every service."""

from __future__ import annotations

from infradsl.aws import _validators as v
from infradsl.core.resource import Resource, prop, resource

__all__ = ["Taggable"]


@resource("aws.Taggable")
class Taggable(Resource):
    """A resource that carries tags.

    Besides the user's ``tags``, the engine adds ``Name``, ``infradsl:stack`` and
    ``infradsl:path`` at creation.
    """

    tags: dict[str, str] = prop(dict, items=(str,), factory=dict, check=v.tags)
