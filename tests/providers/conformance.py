"""The conformance suite every `ResourceHandler` passes, run against the local cloud."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from infradsl.aws import resource_type
from infradsl.providers.handler import TOKEN_TAG, HandlerContext, ResourceHandler, system_tags


def check_handler(
    handler: ResourceHandler,
    ctx: HandlerContext,
    create_props: Mapping[str, Any],
    update_props: Mapping[str, Any] | None = None,
    *,
    tags_readable: bool = True,
) -> str:
    """Create, read, update and delete one resource and check each step.

    After the create, `find` (the crash-recovery lookup) must find the resource with the
    same attributes, but not for another attempt; `list_stack` must list it under its
    path. After the delete, neither finds it.

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

    found = handler.find(ctx, create_props)
    assert found is not None, "find finds the resource create made"
    assert found.physical_id == pid, f"find finds {found.physical_id!r}, create made {pid!r}"
    for name in cls._attributes:
        assert found.attributes.get(name) == created.attributes.get(name), (
            f"find returns attribute {name}: {found.attributes.get(name)!r} "
            f"!= {created.attributes.get(name)!r}"
        )
    other_attempt = attrs.evolve(ctx, attempt=ctx.attempt + 1)
    assert handler.find(other_attempt, create_props) is None, "find ignores other attempts"
    listed = handler.list_stack(ctx)
    assert listed.get(pid) == ctx.path, f"list_stack maps {pid} to {ctx.path}: {dict(listed)}"

    read = handler.read(ctx, [pid])
    assert set(read) == {pid}, f"read finds the created resource, got {sorted(read)}"
    live = read[pid]
    # A read that cannot return tags (tags_readable=False) reports tags=None.
    assert (live.tags is not None) == tags_readable, f"read's tags: {live.tags!r}"
    if "tags" in cls._props and live.tags is not None:
        expected_tags = {**system_tags(ctx.stack, ctx.path), TOKEN_TAG: ctx.creation_token}
        for key, value in expected_tags.items():
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
        if "tags" in cls._props and after.tags is not None:
            assert after.tags.get(TOKEN_TAG) == ctx.creation_token, "an update keeps the token"
        refound = handler.find(ctx, update_props)
        assert refound is not None and refound.physical_id == pid, "find finds it after update"

    handler.delete(ctx, pid, update_props or create_props)
    assert handler.read(ctx, [pid]) == {}, "read does not find a deleted resource"
    assert handler.find(ctx, create_props) is None, "find does not find a deleted resource"
    assert pid not in handler.list_stack(ctx), "list_stack does not list a deleted resource"
    handler.delete(ctx, pid, update_props or create_props)  # deleting twice is not an error
    return pid
