"""Reconcile: resources carrying a stack's tags that its state does not know.

They come from outside infradsl (a copy of a tag), from a run whose journal was lost, or
from an emulator that ignored an idempotency token. Each can be adopted into state (when
its path is free) or deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from infradsl.providers.handler import (
    TOKEN_TAG,
    ClientProvider,
    HandlerContext,
    ResourceHandler,
)
from infradsl.state.model import ResourceState, StackState

__all__ = ["Stray", "adopt", "delete_strays", "find_strays"]


@attrs.frozen
class Stray:
    """A resource tagged with the stack that state does not track.

    Attributes:
        type: the resource type name.
        physical_id: its id.
        path: its ``infradsl:path`` tag.
        adoptable: True when state has nothing at that path (otherwise it is a duplicate).
    """

    type: str
    physical_id: str
    path: str
    adoptable: bool


def find_strays(
    stack: str,
    region: str,
    state: StackState | None,
    clients: ClientProvider,
    handler_for: Callable[[str], ResourceHandler],
    types: Iterable[str],
) -> list[Stray]:
    """List every untracked resource tagged ``infradsl:stack = stack`` (one list per type)."""
    resources = state.resources if state else {}
    tracked = {r.physical_id for r in resources.values()}
    prefix = state.lineage[:8] if state else ""
    strays = []
    ctx = HandlerContext(stack=stack, path="", region=region, clients=clients)
    for type_name in sorted(types):
        handler = handler_for(type_name)
        untracked = {
            physical_id: path
            for physical_id, path in handler.list_stack(ctx).items()
            if physical_id not in tracked
        }
        if prefix and untracked:
            # Another state of a same-named stack (another --state location) tags its
            # resources with its own lineage: those are not strays of this state.
            live = handler.read(ctx, sorted(untracked))
            for physical_id, result in live.items():
                token = (result.tags or {}).get(TOKEN_TAG)
                if token and not token.startswith(prefix):
                    untracked.pop(physical_id, None)
        for physical_id, path in sorted(untracked.items()):
            strays.append(Stray(type_name, physical_id, path, path not in resources))
    return strays


def adopt(
    state: StackState,
    strays: Iterable[Stray],
    clients: ClientProvider,
    handler_for: Callable[[str], ResourceHandler],
) -> StackState:
    """Add adoptable strays to state. Their inputs are unknown, so the next plan updates
    (or replaces) them to match the code."""
    resources = dict(state.resources)
    for stray in strays:
        if not stray.adoptable or stray.path in resources:
            continue
        ctx = HandlerContext(
            stack=state.stack, path=stray.path, region=state.region, clients=clients
        )
        live = handler_for(stray.type).read(ctx, [stray.physical_id]).get(stray.physical_id)
        if live is None:
            continue
        resources[stray.path] = ResourceState(
            type=stray.type,
            physical_id=stray.physical_id,
            inputs={},
            properties=dict(live.properties),
            attributes=dict(live.attributes),
        )
    return attrs.evolve(state, resources=resources, serial=state.serial + 1)


def delete_strays(
    stack: str,
    region: str,
    strays: Iterable[Stray],
    clients: ClientProvider,
    handler_for: Callable[[str], ResourceHandler],
) -> list[str]:
    """Delete strays (duplicates first); return an error line per failure."""
    errors = []
    for stray in sorted(strays, key=lambda s: (s.adoptable, s.path)):
        ctx = HandlerContext(stack=stack, path=stray.path, region=region, clients=clients)
        try:
            handler_for(stray.type).delete(ctx, stray.physical_id, {})
        except Exception as exc:
            errors.append(f"{stray.path} ({stray.physical_id}): {exc}")
    return errors
