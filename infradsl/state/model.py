"""The state document of one stack: every resource infradsl manages, with its physical id.

State never holds a secret value: properties are stored as synthesized (references, the
name of an environment variable, generation settings), never as the secret itself.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "FORMAT",
    "OLD_SUFFIX",
    "RECOVERED",
    "Recovered",
    "ResourceState",
    "StackState",
    "StateKey",
]

FORMAT = 1

OLD_SUFFIX = "#old"
"""The end of the state key of a replacement's old half: ``<path>#old``."""

RECOVERED = "recovered"
"""The resource option that holds a `Recovered` value in the state document."""


@attrs.frozen
class StateKey:
    """Where `StackState.resources` tracks a resource.

    Attributes:
        path: the logical id.
        old: the old half of a replacement: its new half is tracked at ``path``; it stays
            tracked until the cleanup after a successful deploy deletes it.

    Serialized as the path, or ``<path>#old`` for an old half.

    Example:
        >>> StateKey.parse("Net/Web#old")
        StateKey(path='Net/Web', old=True)
        >>> str(StateKey("Net/Web", old=True))
        'Net/Web#old'
    """

    path: str
    old: bool = False

    def __str__(self) -> str:
        return self.path + OLD_SUFFIX if self.old else self.path

    @classmethod
    def parse(cls, key: str) -> StateKey:
        """Read a key of `StackState.resources`."""
        if key.endswith(OLD_SUFFIX):
            return cls(key.removesuffix(OLD_SUFFIX), old=True)
        return cls(key)


class Recovered(enum.Enum):
    """What an interrupted run left unfinished on a tracked resource; the next deploy
    finishes it with an update even when the plan sees no difference.

    The value is what the state document holds in the resource's ``recovered`` option.
    """

    CREATE = True
    """Created (adopted by recovery, or not yet ready): updated from nothing, against what
    is live, which also reads its final attributes."""
    UPDATE = "update"
    """An update that may be half-applied: updated again from the properties in state."""


@attrs.frozen
class ResourceState:
    """One deployed resource.

    Attributes:
        type: the synthesized type name (``aws.ec2.Vpc``).
        physical_id: the cloud's id.
        inputs: the synthesized properties as deployed (references unresolved).
        properties: the resolved properties as applied (what the handler got).
        attributes: the attributes returned by the cloud (``id``, ``arn``...).
        depends_on: logical ids this resource depended on when deployed.
        options: the resource options as deployed.
        attempt: how many times this path was replaced (part of generated names).
    """

    type: str
    physical_id: str
    inputs: Mapping[str, Any]
    properties: Mapping[str, Any]
    attributes: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    options: Mapping[str, Any] = attrs.Factory(dict)
    attempt: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "type": self.type,
            "physical_id": self.physical_id,
            "inputs": dict(self.inputs),
            "properties": dict(self.properties),
            "attributes": dict(self.attributes),
            "depends_on": list(self.depends_on),
            "options": dict(self.options),
            "attempt": self.attempt,
        }

    @property
    def recovered(self) -> Recovered | None:
        """What an interrupted run left unfinished on it, or ``None``."""
        value = self.options.get(RECOVERED)
        if not value:
            return None
        try:
            return Recovered(value)
        except ValueError:
            return Recovered.CREATE  # an unknown mark: finish it as a create

    def with_recovered(self, recovered: Recovered | None) -> ResourceState:
        """This resource marked with ``recovered`` (``None``: unmarked)."""
        options = {k: v for k, v in self.options.items() if k != RECOVERED}
        if recovered is not None:
            options[RECOVERED] = recovered.value
        return attrs.evolve(self, options=options)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResourceState:
        """Parse what `to_json` wrote."""
        return cls(
            type=data["type"],
            physical_id=data["physical_id"],
            inputs=data.get("inputs", {}),
            properties=data.get("properties", {}),
            attributes=data.get("attributes", {}),
            depends_on=tuple(data.get("depends_on", ())),
            options=data.get("options", {}),
            attempt=int(data.get("attempt", 0)),
        )


@attrs.frozen
class StackState:
    """The state of one stack on one target.

    Attributes:
        stack: the stack name.
        target: ``local`` or ``aws``.
        region: the stack's region.
        serial: incremented by every write; a writer never overwrites a higher serial.
        lineage: a random id fixed at the first write; another lineage is another stack.
        resources: deployed resources by logical id.
        outputs: the stack's output values after the last deploy.
        local_instance: the local cloud's instance id at the last deploy (local target).
        pending: the write-ahead journal: intents of mutating calls that started and whose
            result is not recorded yet (written by `infradsl.engine.executor`, resolved by
            `infradsl.engine.recovery`). Empty at rest; a run that died leaves its
            unfinished intents here for the next run to resolve.
    """

    stack: str
    target: str
    region: str
    serial: int = 0
    lineage: str = attrs.Factory(lambda: uuid.uuid4().hex)
    resources: Mapping[str, ResourceState] = attrs.Factory(dict)
    outputs: Mapping[str, Any] = attrs.Factory(dict)
    local_instance: str | None = None
    pending: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready data (resources sorted by logical id)."""
        return {
            "infradsl_state": FORMAT,
            "stack": self.stack,
            "target": self.target,
            "region": self.region,
            "serial": self.serial,
            "lineage": self.lineage,
            "local_instance": self.local_instance,
            "pending": [dict(p) for p in self.pending],
            "resources": {p: self.resources[p].to_json() for p in sorted(self.resources)},
            "outputs": dict(self.outputs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackState:
        """Parse what `to_json` wrote.

        Raises:
            ValueError: not a state document of a known format.
        """
        if data.get("infradsl_state") != FORMAT:
            raise ValueError(
                f"not an infradsl state document (format {data.get('infradsl_state')!r})"
            )
        return cls(
            stack=data["stack"],
            target=data["target"],
            region=data["region"],
            serial=int(data["serial"]),
            lineage=data["lineage"],
            resources={p: ResourceState.from_json(r) for p, r in data["resources"].items()},
            outputs=data.get("outputs", {}),
            local_instance=data.get("local_instance"),
            pending=tuple(data.get("pending", ())),
        )
