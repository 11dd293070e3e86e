"""Resolving a document's lookups through the handlers, when planning.

Each query of the ``lookups`` section is sent to its type's `LookupHandler` in the
stack's region (or the region of the stack that declares it), in dependency order (a
subnet's VPC after the subnet). Exactly one resource must match each; every problem is
collected, then refused at once before anything changes. The result is the document with
the looked-up values in place of the references to them (see `infradsl.plan.lookup`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infradsl.plan.lookup import (
    Key,
    LookedUp,
    LookupFailedError,
    describe_query,
    entry_key,
    lookup_dependencies,
    problems_with,
    substitute,
)
from infradsl.plan.planner import topological_order
from infradsl.providers.handler import ClientProvider, HandlerContext, LookupHandler

__all__ = ["resolve_lookups"]

# How many matching ids a "matched several" message lists.
_SHOWN = 5


def resolve_lookups(
    document: Mapping[str, Any],
    *,
    clients_for: Callable[[str], ClientProvider],
    handler_for: Callable[[str], Any],
    reach: Callable[[str], None] | None = None,
    target: str = "",
) -> Mapping[str, Any]:
    """The document with its lookups resolved; itself when it has none.

    Args:
        document: a synthesized document.
        clients_for: region -> client provider.
        handler_for: type name -> handler.
        reach: region -> raises when the cloud cannot be reached there (called first).
        target: ``local`` or ``aws``, named in messages.

    Raises:
        LookupFailedError: a lookup found nothing or several resources, its type cannot
            be looked up, or a resource does not fit a looked-up value; nothing was
            changed.
    """
    entries: Mapping[str, Any] = document.get("lookups") or {}
    if not entries:
        return document
    stack = str(document["stack"])
    dependencies = lookup_dependencies(document)
    found: dict[Key, LookedUp] = {}
    failed: list[str] = []
    skipped: set[str] = set()
    for path in topological_order(dependencies):
        if dependencies[path] & skipped:
            skipped.add(path)  # what it depends on failed, and was reported
            continue
        entry = entries[path]
        key = entry_key(document, path, entry)
        region = str(entry.get("region") or document["region"])
        where = f"{key[0] or stack}/{path}"
        query = substitute(entry.get("query", {}), document, found)
        handler = handler_for(entry["type"])
        if not isinstance(handler, LookupHandler):
            failed.append(f"{where}: {entry['type']} cannot be looked up")
            skipped.add(path)
            continue
        if reach is not None:
            reach(region)
        ctx = HandlerContext(stack=stack, path=path, region=region, clients=clients_for(region))
        matches = handler.lookup(ctx, query)
        what = f"the lookup {where} ({entry['type']}) by {describe_query(query)}"
        cloud = f"{region}{f' ({target})' if target else ''}"
        if len(matches) != 1:
            skipped.add(path)
            if not matches:
                failed.append(f"{what} found nothing in {cloud}")
            else:
                ids = sorted(matches)
                shown = ", ".join(ids[:_SHOWN]) + (", ..." if len(ids) > _SHOWN else "")
                failed.append(
                    f"{what} matched {len(ids)} in {cloud} ({shown}); add criteria or give "
                    "its id so that exactly one matches"
                )
            continue
        ((physical_id, result),) = matches.items()
        values = {**result.properties, "tags": dict(result.tags or {}), **result.attributes}
        found[key] = LookedUp(
            path=path,
            type=str(entry["type"]),
            query=query,
            physical_id=physical_id,
            values=values,
            stack=key[0],
            region=region,
        )
    if failed:
        raise LookupFailedError("refused, nothing was changed: " + "; ".join(failed))
    problems = problems_with(document, found)
    if problems:
        raise LookupFailedError(
            f"refused, nothing was changed: in stack {stack!r}, " + "; ".join(problems)
        )
    resolved = {key: value for key, value in document.items() if key != "lookups"}
    resolved["resources"] = substitute(document["resources"], document, found)
    resolved["outputs"] = substitute(document["outputs"], document, found)
    resolved["looked_up"] = [
        f.to_json() for f in sorted(found.values(), key=lambda f: (f.stack or "", f.path))
    ]
    return resolved
