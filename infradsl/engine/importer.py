"""`infradsl import`: existing resources -> a Python module, and state that adopts them.

The adoption is recorded in state, not in the code: for every resource the generated
module manages, state gets its physical id, ``inputs`` equal to what the module
synthesizes (lookups resolved, as the planner compares them), ``properties`` equal to
those inputs resolved with the ids found (and checked against what was read), and the
option ``adopted``. So the first ``infradsl plan`` of the module has nothing to do, and
its first deploy only adds infradsl's tags (`infradsl.plan.compare`).

Example:
    ```python
    result = import_scope(session, AwsDiscovery(), Scope(vpc="vpc-0a1b"), region="us-east-1",
                          stack="legacy", command="infradsl import --vpc vpc-0a1b -o legacy.py",
                          filename="legacy.py")
    Path("legacy.py").write_text(result.generated.source)
    session.backend.write(result.state)
    ```
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from infradsl.core.typeinfo import type_info
from infradsl.errors import InfraDslError, ValidationError
from infradsl.plan.values import UnresolvedError, resolve
from infradsl.providers.discovery import (
    LOOKUP_TYPES,
    Discovered,
    Discovery,
    Generated,
    Inventory,
    Scope,
    references,
)
from infradsl.state.backend import LockInfo, StateBackend, current_user
from infradsl.state.model import ResourceState, StackState

if TYPE_CHECKING:
    from infradsl.engine.session import Session

__all__ = [
    "ADOPTED",
    "ImportFailedError",
    "ImportResult",
    "adoption_state",
    "import_scope",
    "prepare",
    "record_adoption",
    "synthesize_source",
]

ADOPTED = "adopted"
"""The state option of a resource `infradsl import` adopted whose tags are not infradsl's
yet; the deploy that tags it drops it (state then records the code's options)."""

# Attempts at generating code that synthesizes: each drops what validation refused.
_ATTEMPTS = 6


class ImportFailedError(InfraDslError):
    """The import cannot produce code and state that agree (nothing was written)."""


@attrs.frozen
class ImportResult:
    """What `import_scope` made; nothing is written yet.

    Attributes:
        generated: the module's source and its logical ids.
        state: the stack's state, adopting every resource the module manages.
        inventory: what was found (``skipped`` holds what was left out, and why).
        notes: more lines about what was left out (also in the module's header).
    """

    generated: Generated
    state: StackState
    inventory: Inventory
    notes: tuple[str, ...] = ()


def prepare(inventory: Inventory) -> tuple[Inventory, list[str]]:
    """What can be imported: without what another stack manages, and without what refers
    to something neither imported nor looked up (dropped with what refers to it).

    Returns:
        The inventory to generate code from, and a line per resource left out.
    """
    notes: list[str] = []
    found = {r.key: r for r in inventory.resources}
    for res in list(found.values()):
        if res.managed_by:
            if res.type in LOOKUP_TYPES:
                found[res.key] = attrs.evolve(res, lookup=True)
            else:
                del found[res.key]
                notes.append(
                    f"{_kind(res)} {res.physical_id}: managed by infradsl stack {res.managed_by!r}"
                )
    changed = True
    while changed:
        changed = False
        for res in list(found.values()):
            if res.lookup:
                continue
            missing = [key for key in references(res.type, res.properties) if key not in found]
            res = _without_optional(res, {pid for _t, pid in missing}, notes)
            found[res.key] = res
            missing = [key for key in references(res.type, res.properties) if key not in found]
            if missing:
                del found[res.key]
                names = ", ".join(sorted(pid for _t, pid in missing))
                notes.append(
                    f"{_kind(res)} {res.physical_id}: it uses {names}, which cannot be "
                    "imported nor looked up"
                )
                changed = True
    kept = tuple(found[r.key] for r in inventory.resources if r.key in found)
    return attrs.evolve(inventory, resources=kept), notes


def _without_optional(res: Discovered, missing: set[str], notes: list[str]) -> Discovered:
    """``res`` without the optional references to ``missing`` ids (noted)."""
    dropped = [
        name
        for name, value in res.properties.items()
        # The refresh reads such a reference, but a property absent from state is not
        # compared, so leaving one out changes nothing (an instance keeps its key pair; a
        # replacement would be made without it).
        if name in type_info(res.type).import_optional and value in missing
    ]
    for name in dropped:
        notes.append(
            f"{name}={res.properties[name]} of {_kind(res)} {res.physical_id}: it cannot be "
            f"imported nor looked up; the code leaves {name} out (a replacement would not "
            "have it)"
        )
    if not dropped:
        return res
    props = {k: v for k, v in res.properties.items() if k not in dropped}
    return attrs.evolve(res, properties=props)


def _kind(res: Discovered) -> str:
    return res.type.rsplit(".", 1)[-1]


def synthesize_source(source: str, filename: str) -> dict[str, dict[str, Any]]:
    """Run generated module text and synthesize the `App` it binds to ``app``.

    Raises:
        ValidationError: the app has problems (each names its construct path).
    """
    from infradsl.core.app import App
    from infradsl.synth import synthesize

    namespace: dict[str, Any] = {"__name__": "__infradsl_import__", "__file__": filename}
    exec(compile(source, filename, "exec"), namespace)
    app = namespace.get("app")
    if not isinstance(app, App):
        raise ImportFailedError(f"{filename}: the generated module binds no App to 'app'")
    return synthesize(app)


def import_scope(
    session: Session,
    discovery: Discovery,
    scope: Scope,
    *,
    region: str,
    stack: str,
    command: str,
    filename: str,
) -> ImportResult:
    """Discover ``scope``, generate the module and the state that adopts it.

    Args:
        session: an `infradsl.engine.session.Session` (its clients, lookups, target).
        discovery: finds the resources (`infradsl.providers.aws.discovery.AwsDiscovery`).
        scope: what to import.
        region: where.
        stack: the stack name of the module (and of its state).
        command: the command line, quoted in the module's header.
        filename: the module's file name (in messages and tracebacks).

    Raises:
        DiscoveryError: the scope names nothing that exists.
        ImportFailedError: what was found cannot be written as code that agrees with it.
    """
    session.reach(region)
    inventory = discovery.discover(session.clients_for(region), region, scope)
    # What a stack's state already tracks is managed, even before its tags say so.
    owned = {
        (res.type, res.physical_id): name
        for name, other in session.states().items()
        for res in other.resources.values()
    }
    inventory = attrs.evolve(
        inventory,
        resources=tuple(
            attrs.evolve(r, managed_by=owned[r.key]) if r.key in owned and not r.managed_by else r
            for r in inventory.resources
        ),
    )
    inventory, notes = prepare(inventory)
    if not inventory.managed():
        left = [*notes, *(str(s) for s in inventory.skipped)]
        raise ImportFailedError(
            "nothing to import, nothing was written"
            + (f": {'; '.join(left)}" if left else f": {scope.describe()} found nothing")
        )
    generated, documents = _generate(discovery, inventory, notes, stack, region, command, filename)
    document = documents[stack]
    if set(document["resources"]) != set(generated.paths):
        extra = sorted(set(document["resources"]) ^ set(generated.paths))
        raise ImportFailedError(
            f"the generated module's resources differ from those found: {', '.join(extra)}"
        )
    resolved = session.resolve_lookups(document)
    state = adoption_state(
        resolved,
        generated.paths,
        {r.key: r for r in inventory.resources},
        target=session.target,
    )
    return ImportResult(generated, state, inventory, tuple(notes))


def _generate(
    discovery: Discovery,
    inventory: Inventory,
    notes: list[str],
    stack: str,
    region: str,
    command: str,
    filename: str,
) -> tuple[Generated, dict[str, dict[str, Any]]]:
    """Generate and synthesize; what validation refuses is left out (noted), then again."""
    for _ in range(_ATTEMPTS):
        generated = discovery.generate(
            inventory, stack=stack, region=region, command=command, notes=notes
        )
        try:
            return generated, synthesize_source(generated.source, filename)
        except ValidationError as error:
            ids = {**generated.paths, **generated.lookups}
            refused: dict[tuple[str, str], list[str]] = {}
            for problem in error.problems:
                path = problem.path.split("/", 1)[-1] if "/" in problem.path else ""
                top = path.split("/", 1)[0]
                if top not in ids:
                    raise ImportFailedError(
                        f"the generated module does not validate: {error}"
                    ) from None
                refused.setdefault(ids[top], []).append(problem.message)
            kept = []
            for res in inventory.resources:
                if res.key in refused:
                    notes.append(f"{_kind(res)} {res.physical_id}: {'; '.join(refused[res.key])}")
                else:
                    kept.append(res)
            inventory, more = prepare(attrs.evolve(inventory, resources=tuple(kept)))
            notes.extend(more)
    raise ImportFailedError("the generated module does not validate after leaving resources out")


def adoption_state(
    document: Mapping[str, Any],
    paths: Mapping[str, tuple[str, str]],
    found: Mapping[tuple[str, str], Discovered],
    *,
    target: str,
) -> StackState:
    """The state of a stack that adopts ``found``: inputs as synthesized, properties as
    read (checked to be the inputs resolved with the ids found).

    Args:
        document: the module's document, lookups resolved.
        paths: logical id -> ``(type, physical id)``.
        found: ``(type, physical id)`` -> what was found.
        target: ``local`` or ``aws``.

    Raises:
        ImportFailedError: a property the code gives resolves to another value than the one
            read (the code would change the resource at its first deploy).
    """
    by_path = {path: found[key] for path, key in paths.items()}

    def lookup(stack: str | None, path: str, attribute: str) -> Any:
        res = by_path.get(path)
        if res is None or attribute not in res.attributes:
            raise UnresolvedError(f"{path}.{attribute}")
        return res.attributes[attribute]

    resources: dict[str, ResourceState] = {}
    wrong: list[str] = []
    for path, entry in sorted(document["resources"].items()):
        res = by_path[path]
        props = resolve(entry["properties"], lookup)
        for name, value in sorted(props.items()):
            if name == "tags" or name not in res.properties:
                continue
            if _normalized(value) != _normalized(res.properties[name]):
                wrong.append(f"{path}.{name}: code gives {value!r}, read {res.properties[name]!r}")
        resources[path] = ResourceState(
            type=entry["type"],
            physical_id=res.physical_id,
            inputs=entry["properties"],
            properties=props,
            attributes=dict(res.attributes),
            depends_on=tuple(entry["depends_on"]),
            options={**entry.get("options", {}), ADOPTED: True},
        )
    if wrong:
        raise ImportFailedError(
            "the generated code does not say what runs (a bug: please report it): "
            + "; ".join(wrong)
        )
    return StackState(
        stack=str(document["stack"]),
        target=target,
        region=str(document["region"]),
        resources=resources,
    )


def _normalized(value: Any) -> Any:
    """List order does not matter (AWS returns rules and ids in any order); ``None``
    entries of a mapping are absent."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        items = [_normalized(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


def record_adoption(backend: StateBackend, result: ImportResult, command: str) -> None:
    """Write the adopting state under the stack's lock, with a history record.

    Raises:
        ImportFailedError: the stack has a state already (nothing was written).
        StateLockedError: another run holds the stack's lock.
    """
    import socket
    import time

    stack = result.state.stack
    lock = LockInfo.new("import")
    backend.lock(stack, lock)
    try:
        if backend.read(stack) is not None:
            raise ImportFailedError(
                f"stack {stack!r} has a state already: import into another stack (--stack "
                "NAME), or destroy that one first; nothing was written"
            )
        backend.write(result.state)
        backend.append_history(
            stack,
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "user": current_user(),
                "host": socket.gethostname(),
                "operation": "import",
                "target": result.state.target,
                "command": command,
                "summary": {"adopt": len(result.state.resources)},
                "result": "adopted",
            },
        )
    finally:
        backend.unlock(stack, lock.id)
