"""What the planner compares besides properties: options, tags, renamed references, outputs.

Used by `infradsl.plan.planner` (and the executor, for renamed references); no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from infradsl.core.typeinfo import type_info
from infradsl.plan.change import Action, OutputChange, PropertyDiff, ResourceChange
from infradsl.plan.crossstack import Upstream
from infradsl.plan.values import UnresolvedError, references, resolve
from infradsl.providers.handler import TOKEN_TAG, ReadResult, system_tags
from infradsl.state.model import ResourceState, StackState

__all__ = [
    "COMPARED_OPTIONS",
    "amend_change",
    "option_diffs",
    "plan_outputs",
    "relink_reasons",
    "renamed_references",
    "tag_diff",
    "upstream_renames",
    "visible_tags",
]

COMPARED_OPTIONS: Mapping[str, Any] = {
    "protect": False,
    "retain_on_delete": False,
    "delete_before_replace": False,
    "ignore_changes": [],
    "replace_on_changes": [],
}
"""Options whose change is planned (and recorded in state), with their unset values.

``aliases`` and ``acknowledged`` are left out: they describe the code's history and its
review, not how the engine treats the resource.
"""


def option_diffs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PropertyDiff]:
    """One diff per compared option whose value differs between state and code."""
    if not old and not new:
        return []  # most resources set no option (asked for every resource)
    diffs: list[PropertyDiff] = []
    for name, unset in COMPARED_OPTIONS.items():
        before, after = old.get(name, unset), new.get(name, unset)
        if before != after:
            diffs.append(PropertyDiff(name, before, after, option=True))
    return diffs


def visible_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags infradsl compares: without the creation token (never rewritten) and without
    AWS's own ``aws:`` tags (nobody may change them)."""
    return {
        key: value for key, value in tags.items() if key != TOKEN_TAG and not key.startswith("aws:")
    }


def tag_diff(
    *,
    stack: str,
    path: str,
    old_path: str,
    old: ResourceState,
    old_inputs: Mapping[str, Any],
    props: Mapping[str, Any],
    observed: ReadResult | None,
    forcing: bool,
) -> PropertyDiff | None:
    """The change of a taggable resource's whole tag set, system tags included.

    ``old`` of the diff is the set the resource has (read from the cloud when refreshed,
    else as recorded); ``new`` is the set the deploy leaves, with the ``Name`` and
    ``infradsl:path`` of ``path``. So a tag added or removed by hand (drift) and a rename
    both show, and the executor converges the tags from ``old`` (it passes it to the
    handler as `HandlerContext.live_tags`).
    """
    applied = old.properties.get("tags") or {}
    if (
        observed is None
        and path == old_path
        and not applied
        and not props.get("tags")
        and not old_inputs.get("tags")
    ):
        # No tags of its own, none read, no rename: both sides are the system tags
        # (asked for every resource of a plan without a refresh).
        return None
    recorded = visible_tags(
        {**dict(old.properties.get("tags") or {}), **system_tags(stack, old_path)}
    )
    live = observed.tags if observed is not None else None
    before = visible_tags(live) if live is not None else recorded
    code_same = (props.get("tags") or {}) == (old_inputs.get("tags") or {})
    # Unchanged code: the resolved tags as applied (a tag value may hold a reference).
    wanted = old.properties.get("tags") if code_same else props.get("tags")
    after = {**dict(wanted or {}), **system_tags(stack, path)}
    if before == after:
        return None
    drift = live is not None and before != recorded
    forces = forcing and not code_same
    return PropertyDiff(
        "tags", before, after, forces, drift=drift, replace_paths=("tags",) if forces else ()
    )


def amend_change(
    change: ResourceChange,
    *,
    stack: str,
    entry: Mapping[str, Any],
    old: ResourceState | None,
    old_path: str,
    observed: ReadResult | None,
    relinked: tuple[str, ...] = (),
) -> ResourceChange:
    """Add what property diffs miss: changed options (recorded in state) and, on an update
    or no-op, the tag set (drift, renames). A no-op that gains a diff becomes an update,
    and so does one whose references follow another stack's renames (``relinked``: the
    reasons), so that the deploy records them.

    On an update, a change of the code's ``tags`` is replaced by the whole-set diff, so the
    executor converges the tags from those the resource has. A drifted property that the
    code did not change shows the value the deploy puts back as applied (references
    resolved), so its two sides compare element by element.
    """
    if old is None or change.missing:
        return change
    if change.action not in (Action.NOOP, Action.UPDATE, Action.REPLACE):
        return change
    options = entry.get("options", {})
    diffs = [_applied(d, entry["properties"], old) for d in change.diffs]
    reasons = list(change.reasons)
    if (
        change.action is not Action.REPLACE
        and _taggable(change.type)
        and "tags" not in options.get("ignore_changes", ())
        and not any(d.name == "tags" and d.known_after_deploy for d in diffs)
    ):
        diffs = [d for d in diffs if d.name != "tags"]
        tags = tag_diff(
            stack=stack,
            path=change.path,
            old_path=old_path,
            old=old,
            old_inputs=old.inputs,
            props=entry["properties"],
            observed=observed,
            forcing="tags" in options.get("replace_on_changes", ()),
        )
        if tags is not None and old.options.get("adopted") and _system_tags_only(tags):
            # Adopted by `infradsl import`: its tags are not infradsl's yet. Adding them is
            # no drift, and alone no change (the deploy still applies it).
            tags = attrs.evolve(tags, drift=False)
            alone = not diffs and not option_diffs(old.options, options)
            if change.action is Action.NOOP and alone:
                return attrs.evolve(
                    change,
                    action=Action.UPDATE,
                    diffs=(tags,),
                    reasons=(*reasons, "adopted: infradsl's tags are added"),
                    adoption=True,
                )
        if tags is not None:
            diffs.append(tags)
            diffs.sort(key=lambda d: d.name)
            if tags.drift:
                reasons.append("'tags' was changed outside infradsl")
    diffs.extend(option_diffs(old.options, options))
    if change.action is not Action.REPLACE:
        reasons.extend(relinked)
    if tuple(diffs) == change.diffs and tuple(reasons) == change.reasons:
        return change
    action = Action.UPDATE if change.action is Action.NOOP else change.action
    return attrs.evolve(change, action=action, diffs=tuple(diffs), reasons=tuple(reasons))


def _system_tags_only(diff: PropertyDiff) -> bool:
    """True when a tag diff only sets infradsl's system tags (a new ``Name`` included)."""
    system = {*system_tags("", ""), TOKEN_TAG}

    def user(tags: Any) -> dict[str, Any]:
        return {k: v for k, v in dict(tags or {}).items() if k not in system}

    return user(diff.old) == user(diff.new)


def _applied(diff: PropertyDiff, props: Mapping[str, Any], old: ResourceState) -> PropertyDiff:
    """A drift diff whose code value is unchanged, with the value as applied on the right."""
    name = diff.name
    if (
        diff.drift
        and not diff.option
        and name in old.properties
        and props.get(name) == old.inputs.get(name)
    ):
        return attrs.evolve(diff, new=old.properties[name])
    return diff


def _taggable(type_name: str) -> bool:
    return type_info(type_name).taggable


def renamed_references(
    value: Any,
    moved: Mapping[str, str],
    foreign: Mapping[str, Mapping[str, str]] | None = None,
) -> Any:
    """``value`` with references to a renamed path pointing at its new path.

    Args:
        value: a synthesized value (references unresolved).
        moved: old logical id -> new logical id, in the same stack.
        foreign: stack -> (old logical id -> new logical id), for other stacks.
    """
    if not moved and not foreign:
        return value
    if isinstance(value, dict):
        ref = value.get("ref")
        if isinstance(ref, str):
            path, _, attribute = ref.rpartition(".")
            stack = value.get("stack")
            renames = moved if stack is None else (foreign or {}).get(str(stack), {})
            if path in renames:
                return {**value, "ref": f"{renames[path]}.{attribute}"}
            return value
        return {k: renamed_references(v, moved, foreign) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed_references(item, moved, foreign) for item in value]
    return value


def upstream_renames(upstream: Upstream | None) -> dict[str, dict[str, str]]:
    """Per producer stack planned earlier in this run, its renames: old path -> new path."""
    found: dict[str, dict[str, str]] = {}
    for plan in upstream.plans if upstream is not None else ():
        for change in plan.changes:
            if change.previous_path:
                found.setdefault(plan.stack, {})[change.previous_path] = change.path
    return found


def relink_reasons(
    inputs: Mapping[str, Any], foreign: Mapping[str, Mapping[str, str]]
) -> tuple[str, ...]:
    """Why a resource's recorded references to other stacks change with their renames
    (the deploy records the new paths; the values stay the same)."""
    if not foreign:
        return ()  # no producer renamed anything (asked for every resource)
    reasons: list[str] = []
    for name in sorted(inputs):
        for stack, path, _attribute in sorted(set(references(inputs[name])), key=str):
            if stack is not None and path in foreign.get(stack, {}):
                new = foreign[stack][path]
                reasons.append(f"'{name}' refers to {stack}/{path}, renamed to {stack}/{new}")
    return tuple(reasons)


def _upstream_value(upstream: Upstream | None, stack: str, path: str, attribute: str) -> Any:
    if upstream is None or stack not in upstream.states:
        raise _Foreign(path)
    for plan in upstream.plans:
        if plan.stack == stack:
            change = next((c for c in plan.changes if c.path == path), None)
            if change is not None and (
                change.action in (Action.CREATE, Action.REPLACE) or change.missing
            ):
                raise _Unknown(path)
    res = upstream.states[stack].resources.get(path)
    if res is None or attribute not in res.attributes:
        raise _Unknown(path)
    return res.attributes[attribute]


class _Unknown(LookupError):
    """The value is not known before the deploy."""


class _Foreign(LookupError):
    """The value is read from another stack's state, which the plan of one stack lacks."""


def plan_outputs(
    document: Mapping[str, Any] | None,
    state: StackState | None,
    changes: Mapping[str, ResourceChange],
    renamed: Mapping[str, str],
    upstream: Upstream | None = None,
) -> tuple[OutputChange, ...]:
    """One change per output (unchanged ones included), sorted by name.

    The new value is resolved from the state as it will be after the deploy: a reference
    to a resource that is created or replaced is known after deploy. A value read from
    another stack comes from that stack's state and plan (``upstream``); without them it
    is taken as unchanged.

    Args:
        document: the desired document (``None`` to destroy).
        state: the stack's state.
        changes: the planned resource changes by logical id.
        renamed: new logical id -> old logical id, for resources renamed through aliases.
        upstream: the stacks this one reads from.
    """
    desired: Mapping[str, Any] = document["outputs"] if document else {}
    descriptions: Mapping[str, str] = document.get("output_descriptions", {}) if document else {}
    recorded: Mapping[str, Any] = state.outputs if state else {}
    resources: Mapping[str, ResourceState] = state.resources if state else {}

    own = document["stack"] if document else (state.stack if state else None)

    def lookup(ref_stack: str | None, path: str, attribute: str) -> Any:
        if ref_stack is not None and ref_stack != own:
            return _upstream_value(upstream, ref_stack, path, attribute)
        change = changes.get(path)
        if change is None or change.action in (Action.CREATE, Action.REPLACE) or change.missing:
            raise _Unknown(path)
        res = resources.get(renamed.get(path, path))
        if res is None or attribute not in res.attributes:
            raise _Unknown(path)
        return res.attributes[attribute]

    out: list[OutputChange] = []
    for name in sorted(set(desired) | set(recorded)):
        description = descriptions.get(name)
        if name not in desired:
            out.append(OutputChange(name, Action.DELETE, old=recorded[name]))
            continue
        old = recorded.get(name)
        try:
            new = resolve(desired[name], lookup)
        except _Foreign:
            action = Action.NOOP if name in recorded else Action.CREATE
            out.append(OutputChange(name, action, old, old, action is Action.CREATE, description))
            continue
        except (_Unknown, UnresolvedError):
            action = Action.UPDATE if name in recorded else Action.CREATE
            out.append(OutputChange(name, action, old, None, True, description))
            continue
        if name not in recorded:
            out.append(OutputChange(name, Action.CREATE, None, new, description=description))
        elif new != old:
            out.append(OutputChange(name, Action.UPDATE, old, new, description=description))
        else:
            out.append(OutputChange(name, Action.NOOP, old, new, description=description))
    return tuple(out)
