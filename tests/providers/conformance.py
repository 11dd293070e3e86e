"""The conformance suite every `ResourceHandler` passes, run against the local cloud."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infradsl.core.resource import resource_type
from infradsl.providers.handler import HandlerContext, ResourceHandler, system_tags


def check_handler(
    handler: ResourceHandler,
    ctx: HandlerContext,
    create_props: Mapping[str, Any],
    update_props: Mapping[str, Any] | None = None,
) -> str:
    """Create, read, update and delete one resource and check each step.

    Returns the physical id (already deleted when this returns).
    """
    assert isinstance(handler, ResourceHandler)
    cls = resource_type(handler.type_name)
    created = handler.create(ctx, create_props)
    pid = created.physical_id
    assert isinstance(pid, str) and pid, "create returns a physical id"
    assert created.attributes.get("id") == pid, "attribute 'id' is the physical id"
    missing = set(cls._attributes) - set(created.attributes)
    assert not missing, f"create returns every declared attribute; missing {sorted(missing)}"

    read = handler.read(ctx, [pid])
    assert set(read) == {pid}, f"read finds the created resource, got {sorted(read)}"
    live = read[pid]
    # A handler whose batch read cannot return tags says so with `reads_tags = False`.
    if "tags" in cls._props and getattr(handler, "reads_tags", True):
        for key, value in system_tags(ctx.stack, ctx.path).items():
            assert live.tags.get(key) == value, f"tag {key} set at creation: {dict(live.tags)}"
    for key, value in live.properties.items():
        if key in create_props:
            expected = create_props[key]
            assert value == expected, f"read-back {key}: {value!r} != {expected!r}"
    assert live.attributes.get("id") == pid, "read returns the attributes, 'id' included"

    if update_props is not None:
        handler.update(ctx, pid, create_props, update_props)
        after = handler.read(ctx, [pid])[pid]
        for key, value in after.properties.items():
            if key in update_props:
                assert value == update_props[key], f"after update {key}: {value!r}"

    handler.delete(ctx, pid, update_props or create_props)
    assert handler.read(ctx, [pid]) == {}, "read does not find a deleted resource"
    handler.delete(ctx, pid, update_props or create_props)  # deleting twice is not an error
    return pid
