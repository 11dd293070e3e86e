"""EC2 and VPC resources: networks, security groups, instances, key pairs and volumes.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import ec2
    >>> stack = Stack(App(), "demo")
    >>> vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    >>> subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from infradsl.aws import _lookup as lk
from infradsl.aws import _validators as v
from infradsl.aws._common import Taggable
from infradsl.aws._image import Ansible, CopyFile, Image, Shell
from infradsl.aws._migration import Migration
from infradsl.aws.iam import InstanceProfile, Role
from infradsl.core.construct import Construct
from infradsl.core.lookup import is_lookup, make_lookup
from infradsl.core.reference import Reference, attribute
from infradsl.core.resource import Resource, is_literal, prop, resource

__all__ = [
    "Ansible",
    "CopyFile",
    "ElasticIp",
    "Image",
    "Instance",
    "InternetGateway",
    "KeyPair",
    "Migration",
    "NatGateway",
    "Route",
    "RouteTable",
    "Rule",
    "SecurityGroup",
    "SecurityGroupRule",
    "Shell",
    "Subnet",
    "Volume",
    "Vpc",
]

_AZ = v.matches(r"^[a-z]{2}(-gov)?-[a-z]+-\d+[a-z]$", "us-east-1a")
PROTOCOLS = ("tcp", "udp", "icmp", "all")


@resource("aws.ec2.Vpc")
class Vpc(Taggable):
    """A virtual private cloud.

    Args:
        cidr_block: the IPv4 range, between /16 and /28.
        enable_dns_support: resolve names through the Amazon DNS server.
        enable_dns_hostnames: give instances with public IPs public DNS names.
        instance_tenancy: ``"default"`` or ``"dedicated"``.
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> vpc = Vpc(Stack(App(), "demo"), "Vpc", cidr_block="10.0.0.0/16")
        >>> vpc.id
        Reference(Vpc.id)
    """

    cidr_block: str = prop(str, check=v.cidr(16, 28), replace=True)
    enable_dns_support: bool = prop(bool, default=True)
    enable_dns_hostnames: bool = prop(bool, default=True)
    instance_tenancy: str = prop(
        str, default="default", check=v.choice(("default", "dedicated")), replace=True
    )

    arn = attribute("The VPC's ARN.")

    @classmethod
    def lookup(
        cls,
        scope: Construct,
        construct_id: str,
        /,
        *,
        id: str | None = None,
        tags: Mapping[str, str] | None = None,
        cidr_block: str | None = None,
        default: bool | None = None,
    ) -> Vpc:
        """An existing VPC that infradsl does not manage, found when planning.

        Exactly one VPC of the stack's region must match every criterion given. The
        result is used like a managed VPC; infradsl never changes or deletes it.

        Args:
            scope: the stack or component it belongs to.
            construct_id: its id there; names it in plans and errors.
            id: the VPC id, ``vpc-...``.
            tags: tags it carries, e.g. ``{"Name": "shared"}``; ``*`` matches any text.
            cidr_block: its primary IPv4 range.
            default: ``True`` for the region's default VPC.

        Example:
            >>> from infradsl import App, Stack
            >>> stack = Stack(App(), "demo")
            >>> shared = Vpc.lookup(stack, "Shared", tags={"Name": "shared"})
            >>> Subnet(stack, "App", vpc=shared, cidr_block="10.0.9.0/24").vpc is shared
            True
        """
        return make_lookup(
            cls,
            scope,
            construct_id,
            {"id": id, "tags": tags, "cidr_block": cidr_block, "default": default},
            checks={"id": lk.resource_id("vpc"), "cidr_block": v.cidr(), "default": lk.flag},
        )


@resource("aws.ec2.Subnet")
class Subnet(Taggable):
    """A subnet of a VPC in one availability zone.

    Args:
        vpc: the VPC.
        cidr_block: inside the VPC's range, not overlapping a sibling subnet; /16 to /28.
        availability_zone: e.g. ``"us-east-1a"``; in the stack's region.
        map_public_ip_on_launch: give instances a public IP (public subnets).
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> stack = Stack(App(), "demo")
        >>> vpc = Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
        >>> Subnet(stack, "A", vpc=vpc, cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
        Subnet('demo/A')
    """

    vpc: Vpc = prop(Vpc, replace=True)
    cidr_block: str = prop(str, check=v.cidr(16, 28), replace=True)
    availability_zone: str | None = prop(str, default=None, check=_AZ, replace=True)
    map_public_ip_on_launch: bool = prop(bool, default=False)

    arn = attribute("The subnet's ARN.")
    availability_zone_id = attribute("The zone id, e.g. use1-az1.")

    @classmethod
    def lookup(
        cls,
        scope: Construct,
        construct_id: str,
        /,
        *,
        id: str | None = None,
        tags: Mapping[str, str] | None = None,
        vpc: Vpc | str | None = None,
        cidr_block: str | None = None,
        availability_zone: str | None = None,
    ) -> Subnet:
        """An existing subnet that infradsl does not manage, found when planning.

        Exactly one subnet of the stack's region must match every criterion given. Its
        ``vpc`` is a looked-up `Vpc` too: the one passed, or the subnet's own.

        Args:
            scope: the stack or component it belongs to.
            construct_id: its id there; names it in plans and errors.
            id: the subnet id, ``subnet-...``.
            tags: tags it carries, e.g. ``{"Name": "private-a"}``; ``*`` matches any text.
            vpc: a looked-up VPC (or a VPC id) it must be in.
            cidr_block: its IPv4 range.
            availability_zone: its zone, e.g. ``"us-east-1a"``.

        Example:
            >>> from infradsl import App, Stack
            >>> stack = Stack(App(), "demo")
            >>> private = Subnet.lookup(stack, "Private", tags={"tier": "private"})
            >>> private.vpc.id
            Reference(Private/Vpc.id)
        """
        found = make_lookup(
            cls,
            scope,
            construct_id,
            {
                "id": id,
                "tags": tags,
                "vpc": vpc,
                "cidr_block": cidr_block,
                "availability_zone": availability_zone,
            },
            checks={
                "id": lk.resource_id("subnet"),
                "vpc": lk.resource_id("vpc"),
                "cidr_block": v.cidr(),
                "availability_zone": _AZ,
            },
        )
        found.vpc = lk.vpc_of(found, vpc, Vpc)
        return found

    def validate(self) -> Iterable[str]:
        yield from _zone_in_region(self, self.availability_zone)

    @classmethod
    def validate_all(cls, resources: Sequence[Resource]) -> Iterable[tuple[Resource, str]]:
        # Ranges as (first, last, prefix) ints: ipaddress's objects cost more than the
        # comparisons, with 20,000 subnets in a stack of 100,000 resources.
        by_vpc: dict[int, list[tuple[tuple[int, int, int], Subnet]]] = {}
        for subnet in resources:
            assert isinstance(subnet, Subnet)
            vpc = subnet.vpc
            network = v.parse_range(subnet.cidr_block) if is_literal(subnet.cidr_block) else None
            if not isinstance(vpc, Vpc) or network is None:
                continue
            vpc_network = v.parse_range(vpc.cidr_block) if is_literal(vpc.cidr_block) else None
            if vpc_network is not None and not (
                vpc_network[0] <= network[0] and network[1] <= vpc_network[1]
            ):
                yield (
                    subnet,
                    (
                        f"'cidr_block' {subnet.cidr_block} is outside its VPC "
                        f"{vpc.logical_id!r} ({vpc.cidr_block}); pick a range inside it"
                    ),
                )
                continue
            by_vpc.setdefault(id(vpc), []).append((network, subnet))
        for group in by_vpc.values():
            group.sort(key=lambda item: (item[0][0], item[1].node.path))
            # The range reaching furthest so far: sorted by first address, a range overlaps
            # an earlier one exactly when it starts before that one's end.
            widest: tuple[tuple[int, int, int], Subnet] | None = None
            for network, subnet in group:
                if widest is not None and network[0] <= widest[0][1]:
                    other = widest[1]
                    yield (
                        subnet,
                        (
                            f"'cidr_block' {subnet.cidr_block} overlaps subnet "
                            f"{other.logical_id!r} ({other.cidr_block}) in the same VPC"
                        ),
                    )
                if widest is None or network[1] > widest[0][1]:
                    widest = (network, subnet)


@resource("aws.ec2.InternetGateway")
class InternetGateway(Taggable):
    """An internet gateway attached to a VPC.

    Args:
        vpc: the VPC to attach to (detached before the VPC is deleted).
        tags: extra tags.
    """

    vpc: Vpc = prop(Vpc)


@resource("aws.ec2.ElasticIp")
class ElasticIp(Taggable):
    """A static public IPv4 address, optionally associated with an instance.

    Args:
        instance: an `Instance` to give the address to. When the instance is replaced,
            the address moves to the new one before the old one is terminated.
        tags: extra tags.
    """

    # `Instance` is declared further down: its type is checked by `validate`.
    instance: Any = prop(Resource, default=None)

    public_ip = attribute("The allocated public IPv4 address.")

    def validate(self) -> Iterable[str]:
        target = _resource_of(self.instance)
        if self.instance is not None and not isinstance(target, Instance):
            what = target.__infradsl_type__ if target is not None else type(self.instance).__name__
            yield f"'instance' must be aws.ec2.Instance (got {what})"


@resource("aws.ec2.NatGateway")
class NatGateway(Taggable):
    """A NAT gateway giving private subnets outbound internet access.

    Args:
        subnet: a public subnet to place it in.
        elastic_ip: the address; when omitted for a public gateway, one is created as the
            child ``Eip``.
        connectivity: ``"public"`` or ``"private"``.
        tags: extra tags.
    """

    subnet: Subnet = prop(Subnet, replace=True)
    elastic_ip: ElasticIp | None = prop(ElasticIp, default=None, replace=True)
    connectivity: str = prop(
        str, default="public", check=v.choice(("public", "private")), replace=True
    )

    public_ip = attribute("The gateway's public IPv4 address.")

    def _finish(self) -> None:
        if self.elastic_ip is None and self.connectivity == "public":
            self.elastic_ip = ElasticIp(self, "Eip")


@attrs.frozen(kw_only=True)
class Route:
    """One route of a `RouteTable`.

    Args:
        destination: the destination CIDR, e.g. ``"0.0.0.0/0"``.
        gateway: an `InternetGateway` or a `NatGateway` (or a reference to one's id).
    """

    destination: str
    gateway: InternetGateway | NatGateway | Reference


@resource("aws.ec2.RouteTable")
class RouteTable(Taggable):
    """A route table, its routes and the subnets associated with it.

    Args:
        vpc: the VPC.
        subnets: subnets that use this table.
        routes: routes; the local route of the VPC is implicit.
        tags: extra tags.
    """

    vpc: Vpc = prop(Vpc, replace=True)
    subnets: list[Subnet] = prop(list, items=(Subnet,), factory=list)
    routes: list[Route] = prop(list, items=(Route,), factory=list)

    def validate(self) -> Iterable[str]:
        seen: dict[str, int] = {}
        table_vpc = _vpc_of(_resource_of(self.vpc))
        for index, route in enumerate(self.routes or ()):
            if not isinstance(route, Route):
                continue
            try:
                v.cidr()(f"routes[{index}].destination", route.destination)
            except ValueError as exc:
                yield str(exc)
            if not isinstance(route.gateway, (InternetGateway, NatGateway, Reference)):
                yield (
                    f"'routes[{index}].gateway' must be aws.ec2.InternetGateway or "
                    f"aws.ec2.NatGateway (got {type(route.gateway).__name__})"
                )
            if isinstance(route.destination, str):
                if route.destination in seen:
                    yield (
                        f"'routes[{index}].destination' {route.destination} repeats "
                        f"routes[{seen[route.destination]}]"
                    )
                seen[route.destination] = index
            gateway = _resource_of(route.gateway)
            kind = "NAT gateway" if isinstance(gateway, NatGateway) else "internet gateway"
            yield from _vpc_mismatch(
                self,
                f"routes[{index}].gateway",
                f"{kind} {{}}",
                gateway,
                "this table",
                table_vpc,
                "a route can only lead to a gateway of its table's VPC",
            )
        for index, subnet in enumerate(self.subnets or ()):
            yield from _vpc_mismatch(
                self,
                f"subnets[{index}]",
                "subnet {}",
                _resource_of(subnet),
                "this table",
                table_vpc,
                "a route table can only be associated with subnets of its own VPC",
            )


@attrs.frozen(kw_only=True)
class Rule:
    """A security group rule: protocol, port range and the other side.

    Build one with `Rule.tcp`, `Rule.udp`, `Rule.icmp` or `Rule.all_traffic`.

    Args:
        protocol: ``"tcp"``, ``"udp"``, ``"icmp"`` or ``"all"``.
        from_port: first port (ICMP: the type, -1 for all).
        to_port: last port (ICMP: the code, -1 for all).
        source: a CIDR, a `SecurityGroup` or a reference to a group's id; for egress
            rules, the destination.
        description: shown in the console.

    Example:
        >>> Rule.tcp(443, source="0.0.0.0/0")
        Rule(protocol='tcp', from_port=443, to_port=443, source='0.0.0.0/0', description=None)
    """

    protocol: str
    from_port: int
    to_port: int
    source: Any
    description: str | None = None

    @classmethod
    def tcp(
        cls, port: int, to_port: int | None = None, *, source: Any, description: str | None = None
    ) -> Rule:
        """TCP on ``port`` (or the range ``port..to_port``) from ``source``."""
        return cls(
            protocol="tcp",
            from_port=port,
            to_port=port if to_port is None else to_port,
            source=source,
            description=description,
        )

    @classmethod
    def udp(
        cls, port: int, to_port: int | None = None, *, source: Any, description: str | None = None
    ) -> Rule:
        """UDP on ``port`` (or the range ``port..to_port``) from ``source``."""
        return cls(
            protocol="udp",
            from_port=port,
            to_port=port if to_port is None else to_port,
            source=source,
            description=description,
        )

    @classmethod
    def icmp(
        cls, type: int = -1, code: int = -1, *, source: Any, description: str | None = None
    ) -> Rule:
        """ICMP of ``type``/``code`` (-1 for all) from ``source``."""
        return cls(
            protocol="icmp", from_port=type, to_port=code, source=source, description=description
        )

    @classmethod
    def all_traffic(cls, *, source: Any, description: str | None = None) -> Rule:
        """Every protocol and port from ``source``."""
        return cls(
            protocol="all", from_port=0, to_port=65535, source=source, description=description
        )

    def problems(self, where: str) -> list[str]:
        """Messages for everything wrong with this rule; ``where`` prefixes field names."""
        found: list[str] = []
        if self.protocol not in PROTOCOLS:
            found.append(
                f"'{where}.protocol' must be one of {', '.join(map(repr, PROTOCOLS))} "
                f"(got {self.protocol!r})"
            )
        low = -1 if self.protocol == "icmp" else 0
        high = 255 if self.protocol == "icmp" else 65535
        for name in ("from_port", "to_port"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                found.append(f"'{where}.{name}' must be an int (got {value!r})")
            elif not low <= value <= high:
                kind = "an ICMP type/code in -1..255" if low == -1 else "a port in 0..65535"
                found.append(f"'{where}.{name}' must be {kind} (got {value})")
        if (
            self.protocol != "icmp"
            and isinstance(self.from_port, int)
            and isinstance(self.to_port, int)
            and self.from_port > self.to_port
        ):
            found.append(
                f"'{where}' port range is reversed: from_port {self.from_port} > "
                f"to_port {self.to_port}"
            )
        source = self.source
        if isinstance(source, str) and is_literal(source):
            if (
                v.parse_network(source) is None
                and v.parse_ipv6_network(source) is None
                and not source.startswith("pl-")
            ):
                found.append(
                    f"'{where}.source' must be a CIDR like 0.0.0.0/0, a SecurityGroup or a "
                    f"prefix list id (got {source!r})"
                )
        elif not isinstance(source, (str, Reference)) and not (
            isinstance(source, Resource)
            and source.__infradsl_type__ == SecurityGroup.__infradsl_type__
        ):
            found.append(
                f"'{where}.source' must be a CIDR, a SecurityGroup or a reference "
                f"(got {type(source).__name__})"
            )
        return found


def _rule_problems(name: str, rules: Any) -> list[str]:
    if not isinstance(rules, (list, tuple)):
        return []
    found: list[str] = []
    for index, rule in enumerate(rules):
        if isinstance(rule, Rule):
            found.extend(rule.problems(f"{name}[{index}]"))
    return found


@resource("aws.ec2.SecurityGroup")
class SecurityGroup(Taggable):
    """A security group: a stateful firewall for instances.

    Args:
        vpc: the VPC.
        description: required by AWS; changing it replaces the group.
        ingress: inbound rules.
        egress: outbound rules; ``None`` keeps AWS's default (all outbound traffic).
        group_name: a fixed name; generated from the path when omitted.
        tags: extra tags.

    Groups may admit each other: a rule whose source is another group is applied once
    both groups exist, so neither group waits for the other's rules.

    Example:
        >>> from infradsl import App, Stack
        >>> stack = Stack(App(), "demo")
        >>> vpc = Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
        >>> sg = SecurityGroup(stack, "Web", vpc=vpc, ingress=[Rule.tcp(443, source="0.0.0.0/0")])
    """

    __infradsl_deferrable__ = ("ingress", "egress")

    vpc: Vpc = prop(Vpc, replace=True)
    description: str = prop(str, default="Managed by infradsl", replace=True)
    ingress: list[Rule] = prop(list, items=(Rule,), factory=list)
    egress: list[Rule] | None = prop(list, items=(Rule,), default=None)
    group_name: str | None = prop(str, default=None, replace=True)

    arn = attribute("The group's ARN.")

    @classmethod
    def lookup(
        cls,
        scope: Construct,
        construct_id: str,
        /,
        *,
        id: str | None = None,
        tags: Mapping[str, str] | None = None,
        vpc: Vpc | str | None = None,
        name: str | None = None,
    ) -> SecurityGroup:
        """An existing security group that infradsl does not manage, found when planning.

        Exactly one group of the stack's region must match every criterion given. Use it
        in an instance's ``security_groups`` or as a rule's ``source``; infradsl never
        changes its rules or deletes it.

        Args:
            scope: the stack or component it belongs to.
            construct_id: its id there; names it in plans and errors.
            id: the group id, ``sg-...``.
            tags: tags it carries; ``*`` matches any text.
            vpc: a looked-up VPC (or a VPC id) it must be in.
            name: the group name.

        Example:
            >>> from infradsl import App, Stack
            >>> stack = Stack(App(), "demo")
            >>> bastion = SecurityGroup.lookup(stack, "Bastion", name="bastion")
            >>> Rule.tcp(22, source=bastion).source is bastion
            True
        """
        found = make_lookup(
            cls,
            scope,
            construct_id,
            {"id": id, "tags": tags, "vpc": vpc, "name": name},
            checks={
                "id": lk.resource_id("sg"),
                "vpc": lk.resource_id("vpc"),
                "name": lk.text(r"^.{1,255}$", "bastion"),
            },
        )
        found.vpc = lk.vpc_of(found, vpc, Vpc)
        return found

    def validate(self) -> Iterable[str]:
        yield from _rule_problems("ingress", self.ingress)
        yield from _rule_problems("egress", self.egress)


@resource("aws.ec2.SecurityGroupRule")
class SecurityGroupRule(Resource):
    """One rule of a security group as a resource of its own.

    Use it when groups admit each other (a cycle if written inline).

    Args:
        group: the group the rule belongs to.
        rule: the rule; its ``source`` is the other group or a CIDR.
        direction: ``"ingress"`` or ``"egress"``.
    """

    group: SecurityGroup = prop(SecurityGroup, replace=True)
    rule: Rule = prop(Rule, replace=True)
    direction: str = prop(
        str, default="ingress", check=v.choice(("ingress", "egress")), replace=True
    )

    def validate(self) -> Iterable[str]:
        if isinstance(self.rule, Rule):
            yield from self.rule.problems("rule")


@resource("aws.ec2.KeyPair")
class KeyPair(Taggable):
    """An SSH key pair imported from a public key (the private key never leaves you).

    Args:
        public_key: an OpenSSH public key (``ssh-ed25519 AAAA...``).
        key_name: a fixed name; generated from the path when omitted.
        tags: extra tags.
    """

    public_key: str = prop(
        str,
        check=v.matches(r"^(ssh-(rsa|ed25519)|ecdsa-sha2-\S+) \S+", "ssh-ed25519 AAAA..."),
        replace=True,
    )
    key_name: str | None = prop(str, default=None, replace=True)

    fingerprint = attribute("The key's fingerprint.")


def _image_id(name: str, value: Any) -> None:
    """An AMI id, or a golden `Image` (checked by type)."""
    if isinstance(value, str):
        v.matches(r"^ami-[0-9a-f]{8,17}$", "ami-0123456789abcdef0")(name, value)


@resource("aws.ec2.Instance")
class Instance(Taggable):
    """An EC2 instance. Instances are immutable: any change but tags replaces them.

    Args:
        image: the AMI id (``ami-...``), a golden `Image`, or a reference to an image.
        instance_type: e.g. ``"t3.micro"``.
        subnet: the subnet to launch in.
        security_groups: groups of the instance's network interface.
        role: an IAM `Role`; the instance profile is created implicitly as ``<role>/Profile``.
        instance_profile: an explicit profile instead of ``role``.
        key_pair: an SSH key pair.
        user_data: the boot script, up to 16384 bytes in UTF-8; references inside f-strings
            are resolved at deploy time.
        require_imdsv2: require session tokens for the metadata service (IMDSv2).
        root_volume_size: GiB, 8..16384.
        root_volume_type: ``gp3``, ``gp2``, ``io1``, ``io2``, ``st1``, ``sc1``.
        root_volume_encrypted: encrypt the root volume.
        monitoring: detailed CloudWatch monitoring.
        stateful: the server holds data that a replacement must not lose: replacing it
            needs a ``migration``, or the plan is refused.
        migration: a `Migration` run when the instance is replaced, after the new one
            exists and its data volumes moved to it, before the old one is terminated.
            An instance with a data volume (``ec2.Volume(..., instance=...)``) needs one
            to be replaced.
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> stack = Stack(App(), "demo")
        >>> vpc = Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
        >>> subnet = Subnet(stack, "A", vpc=vpc, cidr_block="10.0.1.0/24")
        >>> web = Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro",
        ...                subnet=subnet)
        >>> web.public_ip
        Reference(Web.public_ip)
    """

    image: str | Image = prop(str, Image, check=_image_id, replace=True)
    instance_type: str = prop(
        str, check=v.matches(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$", "t3.micro"), replace=True
    )
    subnet: Subnet = prop(Subnet, replace=True)
    security_groups: list[SecurityGroup] = prop(
        list, items=(SecurityGroup,), factory=list, replace=True
    )
    role: Role | None = prop(Role, default=None, replace=True)
    instance_profile: InstanceProfile | None = prop(InstanceProfile, default=None, replace=True)
    key_pair: KeyPair | None = prop(KeyPair, default=None, replace=True)
    # AWS limits the raw user data (before the base64 encoding boto3 applies) to 16 KB.
    user_data: str | None = prop(str, default=None, check=v.max_bytes(16384), replace=True)
    require_imdsv2: bool = prop(bool, default=True, replace=True)
    root_volume_size: int = prop(int, default=8, check=v.int_range(8, 16384), replace=True)
    root_volume_type: str = prop(str, default="gp3", check=v.choice(v.VOLUME_TYPES), replace=True)
    root_volume_encrypted: bool = prop(bool, default=True, replace=True)
    monitoring: bool = prop(bool, default=False, replace=True)
    stateful: bool | None = prop(bool, default=None)
    migration: Migration | None = prop(Migration, default=None)

    arn = attribute("The instance's ARN.")
    public_ip = attribute("The public IPv4 address, if any.")
    private_ip = attribute("The private IPv4 address.")
    public_dns = attribute("The public DNS name, if any.")
    availability_zone = attribute("The availability zone it runs in.")

    def _finish(self) -> None:
        if isinstance(self.role, Role) and self.instance_profile is None:
            self.instance_profile = self.role.instance_profile()

    def validate(self) -> Iterable[str]:
        if isinstance(self.migration, Migration):
            yield from self.migration.problems()
        image = _resource_of(self.image)
        if isinstance(image, Image) and not is_lookup(image) and _region(image) != _region(self):
            yield (
                f"'image' is {_name(self, image)}, built in {_region(image)}: an image is "
                f"regional; copy it here with ec2.Image(..., copy_of=...) in this stack"
            )
        if (
            self.role is not None
            and self.instance_profile is not None
            and isinstance(self.role, Role)
        ):
            profile = self.instance_profile
            if isinstance(profile, InstanceProfile) and profile.role is not self.role:
                yield "'role' and 'instance_profile' disagree: pass one of them"
        subnet = _resource_of(self.subnet)
        for index, group in enumerate(self.security_groups or ()):
            yield from _vpc_mismatch(
                self,
                f"security_groups[{index}]",
                "group {}",
                _resource_of(group),
                f"its subnet {_name(self, subnet)}" if subnet is not None else "",
                _vpc_of(subnet),
                "an instance's security groups must belong to the VPC of its subnet",
            )


@resource("aws.ec2.Volume")
class Volume(Taggable):
    """An EBS volume, optionally attached to an instance.

    Args:
        availability_zone: the zone; must match the instance's when attached.
        size: GiB, 1..16384.
        volume_type: ``gp3``, ``gp2``, ``io1``, ``io2``, ``st1``, ``sc1``.
        encrypted: encrypt at rest (default on).
        iops: provisioned IOPS (gp3, io1, io2).
        instance: attach to this instance.
        device: the device name when attached, e.g. ``/dev/sdf``.
        tags: extra tags.
    """

    availability_zone: str = prop(str, check=_AZ, replace=True)
    size: int = prop(int, check=v.int_range(1, 16384))
    volume_type: str = prop(str, default="gp3", check=v.choice(v.VOLUME_TYPES))
    encrypted: bool = prop(bool, default=True, replace=True)
    iops: int | None = prop(int, default=None, check=v.int_range(100, 256000))
    instance: Instance | None = prop(Instance, default=None)
    device: str = prop(
        str, default="/dev/sdf", check=v.matches(r"^/dev/(sd|xvd)[f-p]$", "/dev/sdf")
    )

    arn = attribute("The volume's ARN.")

    def validate(self) -> Iterable[str]:
        yield from _zone_in_region(self, self.availability_zone)
        instance = _resource_of(self.instance)
        if not isinstance(instance, Instance):
            return
        subnet = _resource_of(instance.subnet)
        if not isinstance(subnet, Subnet) or is_lookup(subnet) or _region(self) != _region(subnet):
            return
        zone, theirs = self.availability_zone, subnet.availability_zone
        if (
            isinstance(zone, str)
            and isinstance(theirs, str)
            and is_literal(zone)
            and is_literal(theirs)
            and zone != theirs
        ):
            yield (
                f"'availability_zone' {zone!r} is not the zone of instance "
                f"{_name(self, instance)} ({theirs}, from its subnet {_name(self, subnet)}): "
                "a volume can only be attached to an instance in its own zone"
            )


def _resource_of(value: Any) -> Resource | None:
    """The resource a property value stands for: itself, or a whole reference to its id."""
    if isinstance(value, Resource):
        return value
    if isinstance(value, Reference) and value.attribute == "id":
        return value.target
    return None


def _vpc_of(res: Resource | None) -> Vpc | None:
    """The VPC a VPC, subnet, group, gateway, route table or instance is in, if known."""
    for _ in range(3):  # an instance -> its subnet -> its VPC
        if res is None or isinstance(res, Vpc):
            return res
        if isinstance(res, (Subnet, SecurityGroup, InternetGateway, RouteTable)):
            res = _resource_of(res.vpc)
        elif isinstance(res, (Instance, NatGateway)):
            res = _resource_of(res.subnet)
        else:
            return None
    return None


def _region(res: Resource) -> str | None:
    stack = res.node.stack
    return stack.region if stack is not None else None


def _name(here: Resource, res: Resource) -> str:
    """``'Path'``, followed by ``of stack 'name'`` when not in the stack of ``here``."""
    stack = res.node.stack
    if stack is here.node.stack or stack is None:
        return repr(res.logical_id)
    return f"{res.logical_id!r} of stack {stack.name!r}"


def _vpc_mismatch(
    here: Resource,
    where: str,
    what: str,
    res: Resource | None,
    owner: str,
    owner_vpc: Vpc | None,
    rule: str,
) -> Iterable[str]:
    """A message when ``res``, the value of ``where``, is in another VPC than ``owner_vpc``.

    ``what`` describes ``res`` with ``{}`` for its name (``"group {}"``). Only VPCs known
    at synth and managed by infradsl are compared: two lookups may find the same VPC (the
    plan checks those). A VPC of another region is reported as such, not here.
    """
    theirs = _vpc_of(res)
    if res is None or theirs is None or owner_vpc is None or theirs is owner_vpc:
        return
    if is_lookup(theirs) or is_lookup(owner_vpc) or _region(theirs) != _region(owner_vpc):
        return
    yield (
        f"{where!r} is {what.format(_name(here, res))} of VPC {_name(here, theirs)}, but "
        f"{owner or 'this resource'} is in VPC {_name(here, owner_vpc)}: {rule}"
    )


def _zone_in_region(res: Resource, zone: Any) -> Iterable[str]:
    stack = res.node.stack
    if stack is None or not isinstance(zone, str) or not is_literal(zone):
        return
    if isinstance(stack.region, str) and not zone.startswith(stack.region):
        yield (
            f"'availability_zone' {zone!r} is not in the stack's region {stack.region!r}; "
            f"use a zone like {stack.region}a"
        )
