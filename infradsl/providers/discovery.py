"""What `infradsl import` and `infradsl drift` find in the cloud: existing resources, as
plain data.

A `Discovery` (the AWS one is `infradsl.providers.aws.discovery`) answers a `Scope` with
an `Inventory`: every resource of a type infradsl knows, its properties in the *resolved*
form a handler's ``read`` returns (a VPC is its id, a role its name), what it left out
and why. The engine turns an inventory into code and state (`infradsl.engine.importer`)
or into a drift report (`infradsl.engine.drift`); nothing here calls a cloud.

Example:
    >>> scope = Scope(vpc="vpc-0a1b2c3d")
    >>> scope.describe()
    '--vpc vpc-0a1b2c3d'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from infradsl.errors import InfraDslError
from infradsl.providers.handler import ClientProvider

__all__ = [
    "LOOKUP_TYPES",
    "REFERENCE_TYPES",
    "Discovered",
    "Discovery",
    "DiscoveryError",
    "Generated",
    "Inventory",
    "Scope",
    "Skipped",
    "gateway_type",
    "references",
]

LOOKUP_TYPES = frozenset({"aws.ec2.Vpc", "aws.ec2.Subnet", "aws.ec2.SecurityGroup", "aws.iam.Role"})
"""Types that code can look up (``ec2.Vpc.lookup``...) instead of managing them."""

REFERENCE_TYPES: Mapping[str, Mapping[str, str]] = {
    "aws.ec2.Subnet": {"vpc": "aws.ec2.Vpc"},
    "aws.ec2.InternetGateway": {"vpc": "aws.ec2.Vpc"},
    "aws.ec2.ElasticIp": {"instance": "aws.ec2.Instance"},
    "aws.ec2.NatGateway": {"subnet": "aws.ec2.Subnet", "elastic_ip": "aws.ec2.ElasticIp"},
    "aws.ec2.RouteTable": {"vpc": "aws.ec2.Vpc", "subnets": "aws.ec2.Subnet"},
    "aws.ec2.SecurityGroup": {"vpc": "aws.ec2.Vpc"},
    "aws.ec2.Instance": {
        "subnet": "aws.ec2.Subnet",
        "security_groups": "aws.ec2.SecurityGroup",
        "instance_profile": "aws.iam.InstanceProfile",
        "key_pair": "aws.ec2.KeyPair",
    },
    "aws.ec2.Volume": {"instance": "aws.ec2.Instance"},
    "aws.iam.InstanceProfile": {"role": "aws.iam.Role"},
    "aws.iam.Policy": {"roles": "aws.iam.Role"},
}
"""type -> property -> the type of what its value (or each of its items) names."""
_GATEWAYS = {"igw-": "aws.ec2.InternetGateway", "nat-": "aws.ec2.NatGateway"}


class DiscoveryError(InfraDslError):
    """The scope names nothing that exists (an unknown VPC, an id of no known kind)."""


@attrs.frozen
class Scope:
    """Which existing resources to find.

    Attributes:
        vpc: a VPC id: the VPC and everything in it (subnets, route tables, gateways,
            addresses, security groups, instances and their volumes, key pairs, instance
            profiles, roles and policies).
        ids: resource ids (``i-...``, ``sg-...``, a role or secret ARN, ``arn:aws:s3:::name``).
        tags: ``(key, value)`` pairs every resource found must carry.
    """

    vpc: str | None = None
    ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """The command-line options that give this scope."""
        parts: list[str] = []
        if self.vpc:
            parts.append(f"--vpc {self.vpc}")
        parts.extend(f"--id {i}" for i in self.ids)
        parts.extend(f"--tag {k}={v}" for k, v in self.tags)
        return " ".join(parts)


@attrs.frozen
class Discovered:
    """One existing resource.

    Attributes:
        type: the type name (``aws.ec2.Instance``).
        physical_id: its id, as state records it (an instance id, a role name, a secret ARN).
        properties: its property values in resolved form (other resources are their ids),
            as the type's handler reads them, plus what import needs that a refresh does
            not read (a VPC's DNS settings, a role's description, a key's public key).
        attributes: every attribute the type declares (``id``, ``arn``...).
        tags: its tags.
        name: what people call it: its ``Name`` tag, else its own name (a group's, a
            role's), else ``None``.
        vpc: the VPC it is in, when it is in one.
        managed_by: the ``infradsl:stack`` tag, when infradsl already manages it.
        lookup: only referred to by what was found, not in the scope: the code looks it
            up instead of managing it.
        import_id: what ``infradsl import --id`` takes to import it, when not the
            physical id (a key pair's ``key-`` id, an IAM resource's ARN).
    """

    type: str
    physical_id: str
    properties: Mapping[str, Any]
    attributes: Mapping[str, Any]
    tags: Mapping[str, str] = attrs.Factory(dict)
    name: str | None = None
    vpc: str | None = None
    managed_by: str | None = None
    lookup: bool = False
    import_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(type, physical id)``: unique (a role and a profile may share a name)."""
        return (self.type, self.physical_id)

    @property
    def given_id(self) -> str:
        """The id ``infradsl import --id`` takes for it."""
        return self.import_id or self.physical_id


@attrs.frozen
class Skipped:
    """Something found in the scope that is not imported.

    Attributes:
        physical_id: its id (or ``owner id: part`` for a part of a resource).
        what: what it is (``main route table``, ``rule of sg-... (protocol 50)``).
        reason: why it is left out.
    """

    physical_id: str
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what} {self.physical_id}: {self.reason}"


@attrs.frozen
class Inventory:
    """What a `Discovery` found.

    Attributes:
        region: where it looked.
        resources: the resources found, those to look up included (`Discovered.lookup`).
        skipped: what it found and left out, with the reason.
        images: AMI id -> image name, for the images the instances run (``""`` when the
            image cannot be described any more).
        defaults: ids of what AWS created with a VPC (its main route table, default
            security group): in the scope, never imported nor counted as unmanaged.
    """

    region: str
    resources: tuple[Discovered, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    images: Mapping[str, str] = attrs.Factory(dict)
    defaults: tuple[str, ...] = ()

    def managed(self) -> list[Discovered]:
        """The resources to manage (not those only looked up)."""
        return [r for r in self.resources if not r.lookup]

    def by_key(self) -> dict[tuple[str, str], Discovered]:
        """Resources by ``(type, physical id)``."""
        return {r.key: r for r in self.resources}


@attrs.frozen
class Generated:
    """A generated module.

    Attributes:
        source: the Python text.
        paths: logical id -> ``(type, physical id)`` of every resource it manages.
        lookups: logical id -> ``(type, physical id)`` of every resource it looks up.
    """

    source: str
    paths: Mapping[str, tuple[str, str]]
    lookups: Mapping[str, tuple[str, str]]


class Discovery(Protocol):
    """Finds existing resources; read-only, batched (a few calls per type and page)."""

    def generate(
        self,
        inventory: Inventory,
        *,
        stack: str,
        region: str,
        command: str,
        notes: Sequence[str] = (),
    ) -> Generated:
        """The Python module a person would have written for ``inventory`` (pure)."""
        ...

    def discover(self, clients: ClientProvider, region: str, scope: Scope) -> Inventory:
        """Every resource of ``scope`` in ``region``, with what it refers to.

        Raises:
            DiscoveryError: the scope names a VPC or an id that does not exist.
        """
        ...

    def details(
        self, clients: ClientProvider, type_name: str, physical_ids: Sequence[str]
    ) -> Mapping[str, Mapping[str, Any]]:
        """The properties a batched read leaves out (a VPC's DNS settings, a bucket's
        versioning and encryption, a role's description), read one resource at a time.

        Returns:
            physical id -> property -> value, for the ids that exist; empty for types
            whose reads miss nothing.
        """
        ...


def gateway_type(gateway: str) -> str | None:
    """The type of a route's target id (``igw-...``, ``nat-...``), if infradsl has it."""
    return next((t for prefix, t in _GATEWAYS.items() if gateway.startswith(prefix)), None)


def references(type_name: str, properties: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(type, physical id)`` of every resource that resolved ``properties`` name.

    Example:
        >>> references("aws.ec2.Subnet", {"vpc": "vpc-1", "cidr_block": "10.0.1.0/24"})
        [('aws.ec2.Vpc', 'vpc-1')]
    """
    found: list[tuple[str, str]] = []
    for name, target in REFERENCE_TYPES.get(type_name, {}).items():
        value = properties.get(name)
        values = value if isinstance(value, list) else [value]
        found.extend((target, v) for v in values if isinstance(v, str) and v)
    if type_name == "aws.ec2.RouteTable":
        for route in properties.get("routes") or ():
            gateway = str(route.get("gateway", ""))
            kind = gateway_type(gateway)
            if kind is not None:
                found.append((kind, gateway))
    if type_name == "aws.ec2.SecurityGroup":
        for direction in ("ingress", "egress"):
            for rule in properties.get(direction) or ():
                source = str(rule.get("source", ""))
                if source.startswith("sg-"):
                    found.append(("aws.ec2.SecurityGroup", source))
    return found
