"""`infradsl drift`: what changed in the cloud outside infradsl, read-only.

For one stack: its managed resources changed by hand (live values against those state
recorded, the drift-blind properties included: a VPC's DNS settings, a bucket's
versioning and encryption, a role's description and session duration, read one
resource at a time here), managed resources deleted by hand, and the *unmanaged*
resources inside the stack's VPCs, with the IaC coverage of that scope (managed / all)
and the command that would import each. Nothing is changed, nothing is locked.

Example:
    ```python
    report = detect_drift(session, AwsDiscovery(), "webapp")
    for line in report.lines():
        print(line)
    ```
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from infradsl.core.typeinfo import type_info
from infradsl.plan.compare import visible_tags
from infradsl.providers.discovery import Discovered, Discovery, Scope
from infradsl.providers.handler import ReadResult, system_tags
from infradsl.state.model import ResourceState, StackState

if TYPE_CHECKING:
    from infradsl.engine.session import Session

__all__ = [
    "DriftedProperty",
    "DriftedResource",
    "Gone",
    "StackDrift",
    "Unmanaged",
    "detect_drift",
    "normalized",
]

_ADOPTED = "adopted"  # the state option `infradsl.engine.importer.ADOPTED`


def normalized(value: Any) -> Any:
    """A form where list order does not matter (AWS returns rules and ids in any order)
    and a mapping's ``None`` entries are absent."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        items = [normalized(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


@attrs.frozen
class DriftedProperty:
    """One property whose live value is not the one state recorded.

    Attributes:
        name: the property (``tags`` for the tag set).
        recorded: the value infradsl applied.
        live: the value in the cloud now.
        added: list items (or tags) that only the live value has.
        removed: list items (or tags) that only the recorded value has.
    """

    name: str
    recorded: Any
    live: Any
    added: tuple[Any, ...] = ()
    removed: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "name": self.name,
            "recorded": self.recorded,
            "live": self.live,
            "added": list(self.added),
            "removed": list(self.removed),
        }


@attrs.frozen
class DriftedResource:
    """A managed resource changed outside infradsl."""

    path: str
    type: str
    physical_id: str
    properties: tuple[DriftedProperty, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "path": self.path,
            "type": self.type,
            "physical_id": self.physical_id,
            "properties": [p.to_json() for p in self.properties],
        }


@attrs.frozen
class Gone:
    """A managed resource deleted outside infradsl."""

    path: str
    type: str
    physical_id: str

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"path": self.path, "type": self.type, "physical_id": self.physical_id}


@attrs.frozen
class Unmanaged:
    """A resource in the stack's VPCs that no infradsl stack manages.

    Attributes:
        type: its type name.
        physical_id: its id.
        name: its ``Name`` tag (or own name), if any.
        vpc: the VPC it is in.
        command: the ``infradsl import`` command that brings it under code.
    """

    type: str
    physical_id: str
    name: str | None
    vpc: str | None
    command: str

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "type": self.type,
            "physical_id": self.physical_id,
            "name": self.name,
            "vpc": self.vpc,
            "import_command": self.command,
        }


@attrs.frozen
class StackDrift:
    """The drift report of one stack.

    Attributes:
        stack: the stack name.
        region: its region.
        changed: managed resources changed outside infradsl.
        deleted: managed resources deleted outside infradsl.
        unmanaged: resources in its VPCs that no stack manages.
        managed: resources in scope that infradsl manages (this stack's, and other
            stacks' found in its VPCs).
        total: every resource in scope (its own and what its VPCs hold, AWS's defaults
            such as a VPC's main route table left out).
        notes: what the report could not look at.
    """

    stack: str
    region: str
    changed: tuple[DriftedResource, ...] = ()
    deleted: tuple[Gone, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    managed: int = 0
    total: int = 0
    notes: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        """True when anything changed, was deleted or was created outside infradsl."""
        return bool(self.changed or self.deleted or self.unmanaged)

    @property
    def coverage(self) -> float:
        """Managed resources in scope, in percent (100 for an empty scope)."""
        return 100.0 if not self.total else 100.0 * self.managed / self.total

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``infradsl drift --json`` (documented in docs/drift.md)."""
        return {
            "stack": self.stack,
            "region": self.region,
            "drifted": self.drifted,
            "changed": [c.to_json() for c in self.changed],
            "deleted": [d.to_json() for d in self.deleted],
            "unmanaged": [u.to_json() for u in self.unmanaged],
            "coverage": {
                "managed": self.managed,
                "total": self.total,
                "percent": round(self.coverage, 1),
            },
            "notes": list(self.notes),
        }


def _compare(
    stack: str, path: str, res: ResourceState, live: ReadResult
) -> tuple[DriftedProperty, ...]:
    found: list[DriftedProperty] = []
    for name, value in sorted(live.properties.items()):
        if name not in res.properties or name == "tags":
            continue
        recorded = res.properties[name]
        if normalized(value) == normalized(recorded):
            continue
        if isinstance(value, list) or isinstance(recorded, list):
            before = [normalized(v) for v in recorded or []]
            after = [normalized(v) for v in value or []]
            found.append(
                DriftedProperty(
                    name,
                    recorded,
                    value,
                    added=tuple(v for v in value or [] if normalized(v) not in before),
                    removed=tuple(v for v in recorded or [] if normalized(v) not in after),
                )
            )
        else:
            found.append(DriftedProperty(name, recorded, value))
    if live.tags is not None:
        user = dict(res.properties.get("tags") or {})
        system = {*system_tags(stack, path)}
        if res.options.get(_ADOPTED):
            # infradsl's tags are added by the first deploy after the import.
            recorded_tags = visible_tags(user)
            live_tags = {k: v for k, v in visible_tags(live.tags).items() if k not in system}
            recorded_tags.pop("Name", None)
            live_tags.pop("Name", None)
        else:
            recorded_tags = visible_tags({**user, **system_tags(stack, path)})
            live_tags = visible_tags(live.tags)
        if recorded_tags != live_tags:
            found.append(
                DriftedProperty(
                    "tags",
                    recorded_tags,
                    live_tags,
                    added=tuple(
                        f"{k}={v}"
                        for k, v in sorted(live_tags.items())
                        if recorded_tags.get(k) != v
                    ),
                    removed=tuple(
                        f"{k}={v}"
                        for k, v in sorted(recorded_tags.items())
                        if live_tags.get(k) != v
                    ),
                )
            )
    return tuple(found)


def _file_name(res: Discovered) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", (res.name or res.physical_id).lower()).strip("_")
    return f"{base or 'imported'}.py"


def detect_drift(
    session: Session, discovery: Discovery, name: str, state: StackState | None = None
) -> StackDrift:
    """The drift report of stack ``name`` (read-only).

    Args:
        session: an `infradsl.engine.session.Session` (backend, clients, handlers).
        discovery: finds what the stack's VPCs hold.
        name: the stack.
        state: its state (read from the backend when omitted).
    """
    state = state if state is not None else session.backend.read(name)
    if state is None:
        return StackDrift(name, "", notes=("not deployed: no state to compare with",))
    notes: list[str] = []
    if state.pending:
        notes.append(
            "a run was interrupted: its unfinished work is recovered by the next "
            "`infradsl plan` or `infradsl deploy`"
        )
    session.reach(state.region)
    clients = session.clients_for(state.region)
    live = session.refresh(state)
    by_type: dict[str, list[str]] = {}
    for path, res in state.resources.items():
        # Types with properties a batched refresh does not read: read here one by one.
        if live.get(path) is not None and type_info(res.type).read_details:
            by_type.setdefault(res.type, []).append(res.physical_id)
    details: dict[str, Mapping[str, Any]] = {}
    for type_name, ids in sorted(by_type.items()):
        details.update(discovery.details(clients, type_name, sorted(ids)))
    changed: list[DriftedResource] = []
    deleted: list[Gone] = []
    for path, res in sorted(state.resources.items()):
        found = live.get(path)
        if found is None:
            deleted.append(Gone(path, res.type, res.physical_id))
            continue
        extra = details.get(res.physical_id, {})
        merged = attrs.evolve(found, properties={**found.properties, **extra})
        drifted = _compare(name, path, res, merged)
        if drifted:
            changed.append(DriftedResource(path, res.type, res.physical_id, drifted))
    unmanaged, managed, total, more = _unmanaged(session, discovery, state, live)
    notes.extend(more)
    return StackDrift(
        stack=name,
        region=state.region,
        changed=tuple(changed),
        deleted=tuple(deleted),
        unmanaged=tuple(unmanaged),
        managed=managed,
        total=total,
        notes=tuple(notes),
    )


def _unmanaged(
    session: Session,
    discovery: Discovery,
    state: StackState,
    live: Mapping[str, ReadResult | None],
) -> tuple[list[Unmanaged], int, int, list[str]]:
    """What the stack's VPCs hold that no stack manages, and the coverage counts."""
    own = {(res.type, res.physical_id) for path, res in state.resources.items() if live.get(path)}
    others = {
        (res.type, res.physical_id)
        for other in session.states().values()
        if other.stack != state.stack
        for res in other.resources.values()
    }
    vpcs = sorted(
        res.physical_id
        for path, res in state.resources.items()
        if type_info(res.type).scopes_discovery and live.get(path) is not None
    )
    in_scope: dict[tuple[str, str], Discovered] = {}
    notes: list[str] = []
    odd: dict[str, int] = {}
    for vpc in vpcs:
        inventory = discovery.discover(
            session.clients_for(state.region), state.region, Scope(vpc=vpc)
        )
        for res in inventory.resources:
            if not res.lookup:
                in_scope.setdefault(res.key, res)
        for skipped in inventory.skipped:
            if (
                skipped.physical_id not in inventory.defaults
                and "infradsl has no" in skipped.reason
            ):
                kind = skipped.what.split(" (")[0]
                odd[kind] = odd.get(kind, 0) + 1
    if odd:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(odd.items()))
        notes.append(f"its VPCs also hold what infradsl has no type for (not counted): {kinds}")
    if not vpcs:
        notes.append("the stack has no VPC: unmanaged resources are looked for in VPCs only")
    unmanaged = [
        res
        for key, res in sorted(in_scope.items())
        if key not in own and key not in others and not res.managed_by
    ]
    found = [
        Unmanaged(
            type=res.type,
            physical_id=res.physical_id,
            name=res.name,
            vpc=res.vpc,
            command=(
                f"infradsl import --id {res.given_id} --region {state.region} -o {_file_name(res)}"
            ),
        )
        for res in unmanaged
    ]
    total = len(own | set(in_scope))
    return found, total - len(found), total, notes
