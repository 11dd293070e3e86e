"""Recovery: resolve the unfinished intents a dead run left in the state's journal.

Each intent is resolved without asking: a resource that an interrupted create made is
found by its ``infradsl:token`` tag and adopted; a create that never happened is
forgotten; a delete that happened removes the resource from state. What was done is
returned as plain sentences for the plan to show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from infradsl.engine.journal import Op
from infradsl.providers.handler import ClientProvider, HandlerContext, ResourceHandler
from infradsl.state.model import RECOVERED, Recovered, ResourceState, StackState, StateKey

__all__ = ["RECOVERED", "discard", "recover"]


def recover(
    state: StackState,
    clients: ClientProvider,
    handler_for: Callable[[str], ResourceHandler],
) -> tuple[StackState, list[str]]:
    """Resolve ``state.pending``; return the new state (serial + 1) and what was done."""
    resources: dict[str, ResourceState] = dict(state.resources)
    notes: list[str] = []
    for intent in state.pending:
        op, key, type_name = intent["op"], intent["path"], intent["type"]
        path = StateKey.parse(key).path
        handler = handler_for(type_name)
        ctx = HandlerContext(
            stack=state.stack,
            path=path,
            region=state.region,
            clients=clients,
            attempt=int(intent.get("attempt", 0)),
            lineage=state.lineage,
        )
        if op == Op.CREATE.value:
            notes.append(_recover_create(intent, path, handler, ctx, resources))
        elif op == Op.DELETE.value:
            notes.append(_recover_delete(intent, key, handler, ctx, resources))
        else:
            if op == Op.UPDATE.value and key in resources and resources[key].recovered is None:
                # The plan may see no difference from state (a property that reads a
                # resource the same run replaced): the update is planned again anyway.
                resources[key] = resources[key].with_recovered(Recovered.UPDATE)
            notes.append(f"{path}: an interrupted {op} may be half-applied; it is planned again")
    recovered = attrs.evolve(state, resources=resources, pending=(), serial=state.serial + 1)
    return recovered, notes


def _recover_create(
    intent: Mapping[str, Any],
    path: str,
    handler: ResourceHandler,
    ctx: HandlerContext,
    resources: dict[str, ResourceState],
) -> str:
    found = handler.find(ctx, intent["props"])
    if found is None:
        discard(handler, ctx, intent["props"])
        return f"{path}: the interrupted create never happened; nothing to adopt"
    if any(r.physical_id == found.physical_id for r in resources.values()):
        return f"{path}: already tracked as {found.physical_id}"
    if intent.get("replace") and path in resources:
        # The old half of a replacement stays tracked until the cleanup deletes it.
        resources[str(StateKey(path, old=True))] = resources[path]
    # The create may have stopped between its calls (a group without its rules): the next
    # deploy finishes it with an update against what is live.
    resources[path] = ResourceState(
        type=intent["type"],
        physical_id=found.physical_id,
        inputs=intent.get("inputs", {}),
        properties=intent["props"],
        attributes=dict(found.attributes),
        depends_on=tuple(intent.get("depends_on", ())),
        options=intent.get("options", {}),
        attempt=ctx.attempt,
    ).with_recovered(Recovered.CREATE)
    return f"{path}: adopted {found.physical_id}, created by the interrupted run"


def _recover_delete(
    intent: Mapping[str, Any],
    key: str,
    handler: ResourceHandler,
    ctx: HandlerContext,
    resources: dict[str, ResourceState],
) -> str:
    physical_id = intent["physical_id"]
    if physical_id in handler.read(ctx, [physical_id]):
        return f"{key}: the interrupted delete of {physical_id} did not happen; still tracked"
    for name, res in list(resources.items()):
        if res.physical_id == physical_id:
            del resources[name]
    return f"{key}: {physical_id} was deleted by the interrupted run; removed from state"


def discard(handler: ResourceHandler, ctx: HandlerContext, props: Mapping[str, Any]) -> None:
    """Let the handler remove what a create that never finished left behind (an image's
    builder instance), for handlers with a ``discard(ctx, props)`` method; best effort:
    what it leaves is found again by the next run's lookups."""
    method = getattr(handler, "discard", None)
    if method is None:
        return
    try:
        method(ctx, props)
    except Exception:  # a failed cleanup must not fail the recovery
        return
