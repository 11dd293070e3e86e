"""The planner: desired document + state (+ live reads) -> a `Plan`. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from infradsl.core.typeinfo import TypeInfo, type_info
from infradsl.plan.change import Action, Plan, PlanError, PropertyDiff, ResourceChange
from infradsl.plan.compare import (
    amend_change,
    plan_outputs,
    relink_reasons,
    renamed_references,
    upstream_renames,
)
from infradsl.plan.crossstack import Upstream
from infradsl.plan.paths import changed_paths, diff_paths, mask_references
from infradsl.plan.stateful import check_stateful_replacements
from infradsl.plan.values import references
from infradsl.providers.handler import ReadResult
from infradsl.state.model import Recovered, ResourceState, StackState, StateKey
from infradsl.synth.graph import kahn_order

__all__ = ["plan_stack", "topological_order"]


def topological_order(dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes so that each comes after the nodes it depends on (ties by name).

    Args:
        dependencies: node -> the nodes it depends on (unknown ones are ignored).

    Raises:
        PlanError: the dependencies form a cycle.
    """
    order = kahn_order(dependencies)
    if len(order) != len(dependencies):
        raise PlanError("the dependency graph has a cycle; run `infradsl check` to see it")
    return order


def plan_stack(
    document: Mapping[str, Any] | None,
    state: StackState | None,
    live: Mapping[str, ReadResult | None] | None = None,
    *,
    stack: str | None = None,
    region: str | None = None,
    notes: tuple[str, ...] = (),
    upstream: Upstream | None = None,
) -> Plan:
    """Plan one stack.

    Args:
        document: the synthesized document, or ``None`` to destroy the stack.
        state: the stack's state, or ``None`` if never deployed.
        live: per logical id the resource read from the cloud, ``None`` when missing;
            omit to plan without a refresh.
        stack: the stack name (when ``document`` is ``None``).
        region: the region (when ``document`` is ``None``).
        notes: notes to show with the plan.
        upstream: the stacks this one reads from (their state, and their plans in this
            run): a property that reads a replaced or changed producer resource changes.

    Raises:
        PlanError: a protected resource would be deleted or replaced.
    """
    desired: Mapping[str, Any] = document["resources"] if document else {}
    current: Mapping[str, ResourceState] = state.resources if state else {}
    name = document["stack"] if document else (stack or (state.stack if state else ""))
    where = document["region"] if document else (region or (state.region if state else ""))

    renamed: dict[str, str] = {}
    for path, entry in desired.items():
        if path in current:
            continue
        for alias in entry.get("options", {}).get("aliases", []):
            if alias in current and alias not in desired and alias not in renamed.values():
                renamed[path] = alias
                break
    foreign = upstream_renames(upstream)
    relinked = {p: why for p, r in current.items() if (why := relink_reasons(r.inputs, foreign))}
    if renamed or relinked:
        # References are recorded by path: after a rename they point at the new path.
        moved = {old: new for new, old in renamed.items()}
        current = {
            p: attrs.evolve(r, inputs=renamed_references(dict(r.inputs), moved, foreign))
            for p, r in current.items()
        }

    changes: dict[str, ResourceChange] = {}
    hard = {
        p: set(e["depends_on"]).difference(e["deferred"]) if e.get("deferred") else e["depends_on"]
        for p, e in desired.items()
    }
    # Paths planned so far whose attributes are known only after the deploy (replaced, or
    # created again): a property that reads one of them changes.
    replaced: set[str] = set()
    for path in topological_order(hard):
        entry = desired[path]
        old_path = renamed.get(path, path)
        changes[path] = _plan_one(
            path, entry, current.get(old_path), live, changes, old_path, upstream, replaced
        )
        if changes[path].action is Action.REPLACE or changes[path].missing:
            replaced.add(path)
    # A deferred dependency (a group named in another group's rules) may come later in that
    # order: plan its holders again, now that every change they read is known. Only
    # in-place properties hold deferred references, so this cannot turn into a replacement.
    for path, entry in desired.items():
        if entry.get("deferred"):
            old_path = renamed.get(path, path)
            changes[path] = _plan_one(
                path, entry, current.get(old_path), live, changes, old_path, upstream, replaced
            )
    for path, change in changes.items():
        old_path = renamed.get(path, path)
        changes[path] = _with_paths(
            amend_change(
                change,
                stack=name,
                entry=desired[path],
                old=current.get(old_path),
                old_path=old_path,
                observed=live.get(old_path) if live is not None else None,
                relinked=relinked.get(old_path, ()),
            )
        )

    claimed = set(desired) | set(renamed.values())
    deletes = []
    for path in sorted(set(current) - claimed):
        res = current[path]
        missing = live is not None and live.get(path) is None
        if res.options.get("retain_on_delete") or missing:
            reason = "retain_on_delete: left in the cloud" if not missing else "already gone"
            deletes.append(ResourceChange(path, res.type, Action.FORGET, reasons=(reason,)))
        else:
            # An old half left by an earlier run (kept while another stack still used it).
            old = ("the old half of a replacement",) if StateKey.parse(path).old else ()
            deletes.append(ResourceChange(path, res.type, Action.DELETE, reasons=old))
    # Deletes run dependents first.
    depths: dict[str, int] = {}
    deletes.sort(key=lambda c: (-_depth(c.path, current, depths), c.path))

    plan_changes = (*changes.values(), *deletes)
    refused = [
        c
        for c in plan_changes
        if c.action in (Action.DELETE, Action.REPLACE) and _protected(c, desired, current, renamed)
    ]
    if refused:
        lines = [
            f"{c.path} is protected and would be "
            f"{'deleted' if c.action is Action.DELETE else 'replaced'}"
            + (f" ({'; '.join(c.reasons)})" if c.reasons else "")
            for c in refused
        ]
        raise PlanError(
            f"refused, nothing was changed: {'; '.join(lines)}. Remove protect=True from the "
            "resource (and deploy) first if this is intended"
        )
    plan_changes = tuple(check_stateful_replacements(plan_changes, desired))
    return Plan(
        stack=name,
        region=where,
        changes=plan_changes,
        notes=notes,
        destroy=document is None,
        outputs=plan_outputs(document, state, changes, renamed, upstream),
    )


def _normalized(value: Any) -> Any:
    """A form where list order does not matter (AWS returns rules and ids in any order)."""
    import json

    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        items = [_normalized(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


def _depth(path: str, current: Mapping[str, ResourceState], depths: dict[str, int]) -> int:
    """1 + the depth of the deepest resource ``path`` depends on in ``current`` (0 when
    absent). ``depths`` memoizes across calls; an edge back into the path being walked
    (groups that admit each other) counts as absent.

    Iterative: a chain of thousands of dependent resources (a destroy) must neither
    recurse that deep nor walk each chain again for every resource on it.
    """
    if path in depths:
        return depths[path]
    if path not in current:
        return 0
    on_path = {path}
    walk: list[tuple[str, list[str]]] = [(path, list(current[path].depends_on))]
    deepest: dict[str, int] = {path: 0}
    while walk:
        node, deps = walk[-1]
        if deps:
            dep = deps.pop()
            if dep in on_path or dep not in current:
                continue
            if dep in depths:
                deepest[node] = max(deepest[node], depths[dep])
                continue
            on_path.add(dep)
            deepest[dep] = 0
            walk.append((dep, list(current[dep].depends_on)))
            continue
        walk.pop()
        on_path.discard(node)
        depths[node] = found = 1 + deepest.pop(node)
        if walk:
            parent = walk[-1][0]
            deepest[parent] = max(deepest[parent], found)
    return depths[path]


def _protected(
    change: ResourceChange,
    desired: Mapping[str, Any],
    current: Mapping[str, ResourceState],
    renamed: Mapping[str, str],
) -> bool:
    old = current.get(renamed.get(change.path, change.path))
    if old is not None and old.options.get("protect"):
        return True
    entry = desired.get(change.path)
    return bool(entry and entry.get("options", {}).get("protect") and old is not None)


def _plan_one(
    path: str,
    entry: Mapping[str, Any],
    old: ResourceState | None,
    live: Mapping[str, ReadResult | None] | None,
    planned: Mapping[str, ResourceChange],
    old_path: str,
    producers: Upstream | None = None,
    replaced: Collection[str] | None = None,
) -> ResourceChange:
    """The change of one resource. ``replaced``: the paths among ``planned`` that are
    replaced or created again, when the caller tracks them (else ``planned`` is read)."""
    type_name = entry["type"]
    previous = old_path if old_path != path else None
    if old is None:
        return ResourceChange(path, type_name, Action.CREATE, previous_path=previous)
    if live is not None and live.get(old_path) is None:
        return ResourceChange(
            path,
            type_name,
            Action.CREATE,
            reasons=("missing from the cloud: created again",),
            previous_path=previous,
            missing=True,
        )
    options = entry.get("options", {})
    # Most resources set neither option: no sets are built for them.
    ignored = set(options.get("ignore_changes", ())) if options else frozenset[str]()
    info = type_info(type_name)
    # The properties whose change (at some path) may replace the resource; which path
    # does is decided per diff, below.
    forcing: Collection[str] = info.create_only_names()
    if options.get("replace_on_changes"):
        forcing = set(forcing) | set(options["replace_on_changes"])
    props: Mapping[str, Any] = entry["properties"]
    diffs: dict[str, PropertyDiff] = {}
    # Equal mappings (most resources of most plans) have no property to compare.
    if props != old.inputs:
        for name in sorted(set(props) | set(old.inputs)):
            if name in ignored:
                continue
            new_value, old_value = props.get(name), old.inputs.get(name)
            if new_value != old_value:
                diffs[name] = PropertyDiff(name, old_value, new_value, name in forcing)
    observed = live.get(old_path) if live is not None else None
    if observed is not None:
        for name, value in observed.properties.items():
            if name in ignored or name in diffs or name not in old.properties:
                continue
            if _normalized(value) != _normalized(old.properties[name]):
                diffs[name] = PropertyDiff(
                    name, value, props.get(name), name in forcing, drift=True
                )
    for name, value in props.items() if replaced is None or replaced else ():
        if name in diffs or name in ignored or not isinstance(value, (dict, list)):
            continue  # (a scalar holds no reference)
        for stack, dep, _attr in references(value):
            upstream = planned.get(dep) if stack is None else None
            if upstream is not None and (upstream.action is Action.REPLACE or upstream.missing):
                diffs[name] = PropertyDiff(
                    name, old.inputs.get(name), value, name in forcing, known_after_deploy=True
                )
                break
    cross: dict[str, str] = {}  # property -> why it changes with a producer in another stack
    if producers is not None:
        skip = set(diffs) | ignored
        for diff, why in producers.diffs(props, old, skip=skip, forcing=forcing):
            diffs[diff.name], cross[diff.name] = diff, why
    if diffs:
        for name, diff in diffs.items():
            diffs[name] = _located(diff, info, options, old, planned, cross=name in cross)
    reasons: list[str] = []
    if previous is not None:
        reasons.append(f"renamed from {previous}")
    if old.type != type_name:
        return ResourceChange(
            path,
            type_name,
            Action.REPLACE,
            tuple(diffs.values()),
            (f"type changed from {old.type}",),
            previous,
        )
    if not diffs and old.recovered is not None:
        interrupted = "an update" if old.recovered is Recovered.UPDATE else "a create"
        reasons.append(f"finishing {interrupted} that an interrupted run started")
        return ResourceChange(path, type_name, Action.UPDATE, (), tuple(reasons), previous)
    if not diffs:
        action = Action.UPDATE if previous is not None else Action.NOOP
        return ResourceChange(path, type_name, action, (), tuple(reasons), previous)
    for diff in diffs.values():
        if diff.drift:
            reasons.append(f"'{diff.name}' was changed outside infradsl")
        if diff.name in cross:
            reasons.append(cross[diff.name])
        elif diff.known_after_deploy:
            deps = sorted(
                {
                    d
                    for s, d, _a in references(diff.new)
                    if s is None
                    and d in planned
                    and (planned[d].action is Action.REPLACE or planned[d].missing)
                }
            )
            verb = "is" if len(deps) == 1 else "are"
            reasons.append(f"'{diff.name}' refers to {', '.join(deps)}, which {verb} replaced")
    replacing = [p for d in diffs.values() if d.forces_replacement for p in d.replace_paths]
    if replacing:
        reasons.extend(f"'{p}' forces replacement" for p in replacing)
        return ResourceChange(
            path, type_name, Action.REPLACE, tuple(diffs.values()), tuple(reasons), previous
        )
    return ResourceChange(
        path, type_name, Action.UPDATE, tuple(diffs.values()), tuple(reasons), previous
    )


def _located(
    diff: PropertyDiff,
    info: TypeInfo,
    options: Mapping[str, Any],
    old: ResourceState,
    planned: Mapping[str, ResourceChange],
    *,
    cross: bool,
) -> PropertyDiff:
    """``diff`` with the create-only paths it changes (which decide whether it replaces
    the resource) and, for a value known after deploy, the paths of the references that
    make it unknown (the other diffs get their paths once amended: `_with_paths`).

    The sides compared: drift compares what was applied with what the cloud has (lists in
    any order); a value known after deploy compares the recorded value with the same value
    whose references to replaced resources (any other stack's, for ``cross``) are unknown.
    """
    name = diff.name
    before, after = diff.old, diff.new
    if diff.drift:
        before, after = _normalized(old.properties.get(name)), _normalized(diff.old)
    elif diff.known_after_deploy:

        def changing(stack: str | None, path: str) -> bool:
            if stack is not None:
                return cross
            change = planned.get(path)
            return change is not None and (change.action is Action.REPLACE or change.missing)

        after = mask_references(diff.new, changing)
    found: list[str] = []
    if name in options.get("replace_on_changes", ()) and before != after:
        found.append(name)
    else:
        for pattern in info.create_only_of(name):
            found.extend(p for p in changed_paths(pattern, before, after) if p not in found)
    paths = diff_paths(name, before, after) if diff.known_after_deploy else diff.paths
    return attrs.evolve(
        diff, forces_replacement=bool(found), replace_paths=tuple(found), paths=paths
    )


def _with_paths(change: ResourceChange) -> ResourceChange:
    """``change`` with the paths of each property diff that has none yet (see
    `PropertyDiff`; options are no property: they have none)."""
    if not change.diffs or all(d.paths or d.option for d in change.diffs):
        return change
    diffs = tuple(
        d if d.paths or d.option else attrs.evolve(d, paths=diff_paths(d.name, d.old, d.new))
        for d in change.diffs
    )
    return attrs.evolve(change, diffs=diffs)
