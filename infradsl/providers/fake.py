"""An in-memory cloud and handler: the in-repo fake of `ResourceHandler` for engine tests.

Example:
    >>> cloud = FakeCloud()
    >>> handler = cloud.handler("aws.ec2.Vpc")
    >>> ctx = HandlerContext(stack="demo", path="Vpc", region="us-east-1", clients=cloud)
    >>> created = handler.create(ctx, {"cidr_block": "10.0.0.0/16"})
    >>> cloud.resources[created.physical_id]["cidr_block"]
    '10.0.0.0/16'
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from infradsl.providers.handler import (
    TOKEN_TAG,
    CreateResult,
    HandlerContext,
    ReadResult,
    UpdateResult,
)

__all__ = ["FakeCloud", "FakeHandler"]


class FakeCloud:
    """Resources in a dict, a log of every call, and failures on demand.

    Attributes:
        resources: physical id -> properties.
        owners: physical id -> (type, path).
        calls: ``(operation, path, physical_id)`` in call order.
        fail: ``(operation, path)`` pairs that raise ``RuntimeError`` once.
    """

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, tuple[str, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.fail: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._handlers: dict[str, FakeHandler] = {}

    def client(self, service: str) -> Any:
        """The fake needs no client; present to satisfy `ClientProvider`."""
        return None

    def handler(self, type_name: str) -> FakeHandler:
        """The handler for a type (one per type, like the real registry)."""
        if type_name not in self._handlers:
            self._handlers[type_name] = FakeHandler(self, type_name)
        return self._handlers[type_name]

    def _call(self, operation: str, path: str, physical_id: str = "") -> None:
        with self._lock:
            self.calls.append((operation, path, physical_id))
            if (operation, path) in self.fail:
                self.fail.discard((operation, path))
                raise RuntimeError(f"injected failure: {operation} {path}")

    def _new_id(self, type_name: str) -> str:
        with self._lock:
            return f"{type_name.rsplit('.', 1)[-1].lower()}-{next(self._ids)}"

    def add_existing(
        self, type_name: str, props: Mapping[str, Any], tags: Mapping[str, str] | None = None
    ) -> str:
        """Add a resource made outside infradsl (for lookups); returns its physical id."""
        physical_id = self._new_id(type_name)
        with self._lock:
            self.resources[physical_id] = dict(props)
            self.owners[physical_id] = (type_name, "")
            self.tags[physical_id] = dict(tags or {})
        return physical_id


class FakeHandler:
    """A `ResourceHandler` over a `FakeCloud`; every attribute is ``<id>.<name>``."""

    type_name: ClassVar[str] = "fake"

    def __init__(self, cloud: FakeCloud, type_name: str) -> None:
        self.cloud = cloud
        self.type_name = type_name  # type: ignore[misc]

    def _attributes(self, physical_id: str) -> dict[str, Any]:
        from infradsl.aws import resource_type

        try:
            names = resource_type(self.type_name)._attributes
        except KeyError:
            names = ("id",)
        return {n: physical_id if n == "id" else f"{physical_id}.{n}" for n in names}

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        self.cloud._call("create", ctx.path)
        physical_id = self.cloud._new_id(self.type_name)
        with self.cloud._lock:
            self.cloud.resources[physical_id] = dict(props)
            self.cloud.owners[physical_id] = (self.type_name, ctx.path)
            self.cloud.tags[physical_id] = ctx.merged_tags(props)
            self.cloud.calls[-1] = ("create", ctx.path, physical_id)
        return CreateResult(physical_id, self._attributes(physical_id))

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        self.cloud._call("read", ctx.path)
        with self.cloud._lock:
            # Like the real handlers: tags come back as tags, not as a property.
            return {
                i: ReadResult(
                    {k: v for k, v in self.cloud.resources[i].items() if k != "tags"},
                    self._attributes(i),
                    dict(self.cloud.tags[i]),
                )
                for i in physical_ids
                if i in self.cloud.resources
            }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        self.cloud._call("update", ctx.path, physical_id)
        changed, removed = ctx.tag_changes(old, new)
        with self.cloud._lock:
            self.cloud.resources[physical_id] = dict(new)
            tags = self.cloud.tags.setdefault(physical_id, {})
            for key in removed:
                tags.pop(key, None)
            tags.update(changed)
        return UpdateResult(self._attributes(physical_id))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        self.cloud._call("delete", ctx.path, physical_id)
        with self.cloud._lock:
            self.cloud.resources.pop(physical_id, None)
            self.cloud.owners.pop(physical_id, None)
            self.cloud.tags.pop(physical_id, None)

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        self.cloud._call("find", ctx.path)
        with self.cloud._lock:
            for physical_id, tags in self.cloud.tags.items():
                if (
                    self.cloud.owners[physical_id][0] == self.type_name
                    and tags.get(TOKEN_TAG) == ctx.creation_token
                ):
                    return CreateResult(physical_id, self._attributes(physical_id))
        return None

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        with self.cloud._lock:
            return {
                physical_id: tags.get("infradsl:path", "")
                for physical_id, tags in self.cloud.tags.items()
                if self.cloud.owners[physical_id][0] == self.type_name
                and tags.get("infradsl:stack") == ctx.stack
            }

    def lookup(self, ctx: HandlerContext, query: Mapping[str, Any]) -> Mapping[str, ReadResult]:
        """Resources of this type matching every criterion: ``id`` the physical id, ``tags``
        a subset of the tags (``*`` matches any text), anything else a property value."""
        import fnmatch

        self.cloud._call("lookup", ctx.path)
        wanted_tags: Mapping[str, str] = query.get("tags") or {}
        found: dict[str, ReadResult] = {}
        with self.cloud._lock:
            for physical_id, props in self.cloud.resources.items():
                tags = self.cloud.tags.get(physical_id, {})
                if self.cloud.owners[physical_id][0] != self.type_name:
                    continue
                if any(
                    (name == "id" and physical_id != value)
                    or (name not in ("id", "tags") and props.get(name) != value)
                    for name, value in query.items()
                ) or not all(
                    fnmatch.fnmatchcase(tags.get(k, "\0"), v) for k, v in wanted_tags.items()
                ):
                    continue
                found[physical_id] = ReadResult(
                    {k: v for k, v in props.items() if k != "tags"},
                    self._attributes(physical_id),
                    dict(tags),
                )
        return found
