"""Handlers for the VPC resources: VPCs, subnets, gateways, addresses and route tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from infradsl.providers.aws._ec2util import (
    arn,
    describe_ids,
    ec2_client,
    id_filter,
    ignore_not_found,
    retry_while_in_use,
    sync_tags,
    tag_specifications,
    tags_of,
    undo_on_failure,
    wait_for,
)
from infradsl.providers.handler import CreateResult, HandlerContext, ReadResult, UpdateResult

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import (
        NatGatewayTypeDef,
        SubnetTypeDef,
        VpcTypeDef,
    )

__all__ = [
    "ElasticIpHandler",
    "InternetGatewayHandler",
    "NatGatewayHandler",
    "RouteTableHandler",
    "SubnetHandler",
    "VpcHandler",
]


class VpcHandler:
    """``aws.ec2.Vpc``: CreateVpc, then the two DNS attributes (one call each)."""

    type_name: ClassVar[str] = "aws.ec2.Vpc"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        vpc = ec2.create_vpc(
            CidrBlock=props["cidr_block"],
            InstanceTenancy=props.get("instance_tenancy", "default"),
            TagSpecifications=tag_specifications("vpc", ctx.merged_tags(props)),
        )["Vpc"]
        pid = vpc["VpcId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            if vpc.get("State") != "available":
                wait_for(ec2, "vpc_available", VpcIds=[pid])
            _set_dns(ec2, pid, props, fresh=True)
        return CreateResult(pid, self._attributes(ctx, vpc))

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        ec2 = ec2_client(ctx)
        found: dict[str, ReadResult] = {}
        for vpc in describe_ids(ec2, "describe_vpcs", "Vpcs", "vpc-id", physical_ids):
            pid = vpc["VpcId"]
            # The DNS settings are not in DescribeVpcs and would cost two calls per VPC;
            # a refresh stays at one call per page, so their drift is not detected.
            found[pid] = ReadResult(
                properties={
                    "cidr_block": vpc["CidrBlock"],
                    "instance_tenancy": vpc.get("InstanceTenancy", "default"),
                },
                attributes=self._attributes(ctx, vpc),
                tags=tags_of(vpc.get("Tags")),
            )
        return found

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        _set_dns(ec2, physical_id, new, fresh=False)
        sync_tags(ec2, physical_id, ctx, old, new)
        vpc = ec2.describe_vpcs(VpcIds=[physical_id])["Vpcs"][0]
        return UpdateResult(self._attributes(ctx, vpc))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            retry_while_in_use(lambda: ec2.delete_vpc(VpcId=physical_id))

    @staticmethod
    def _attributes(ctx: HandlerContext, vpc: VpcTypeDef) -> dict[str, Any]:
        pid = vpc["VpcId"]
        return {"id": pid, "arn": arn(ctx.region, vpc["OwnerId"], "vpc", pid)}


def _set_dns(ec2: EC2Client, vpc_id: str, new: Mapping[str, Any], *, fresh: bool) -> None:
    """Switch the DNS settings that differ from the live ones to ``new``'s.

    A ``fresh`` VPC has AWS's defaults (support on, hostnames off), so nothing is read.
    Hostnames need DNS support: support is switched on first and off last.
    """
    support_now, hostnames_now = True, False
    if not fresh:
        read = ec2.describe_vpc_attribute
        support_now = bool(
            read(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"].get("Value")
        )
        hostnames_now = bool(
            read(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"].get("Value")
        )
    support = bool(new.get("enable_dns_support", True))
    hostnames = bool(new.get("enable_dns_hostnames", True))
    if support and not support_now:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    if hostnames != hostnames_now:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": hostnames})
    if not support and support_now:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": False})


class SubnetHandler:
    """``aws.ec2.Subnet``: CreateSubnet, then ``map_public_ip_on_launch`` if set."""

    type_name: ClassVar[str] = "aws.ec2.Subnet"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        extra: dict[str, Any] = {}
        if props.get("availability_zone"):
            extra["AvailabilityZone"] = props["availability_zone"]
        subnet = ec2.create_subnet(
            VpcId=props["vpc"],
            CidrBlock=props["cidr_block"],
            TagSpecifications=tag_specifications("subnet", ctx.merged_tags(props)),
            **extra,
        )["Subnet"]
        pid = subnet["SubnetId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            if subnet.get("State") != "available":
                wait_for(ec2, "subnet_available", SubnetIds=[pid])
            if props.get("map_public_ip_on_launch"):
                ec2.modify_subnet_attribute(SubnetId=pid, MapPublicIpOnLaunch={"Value": True})
        return CreateResult(pid, self._attributes(ctx, subnet))

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        ec2 = ec2_client(ctx)
        subnets = describe_ids(ec2, "describe_subnets", "Subnets", "subnet-id", physical_ids)
        return {
            subnet["SubnetId"]: ReadResult(
                properties={
                    "vpc": subnet["VpcId"],
                    "cidr_block": subnet["CidrBlock"],
                    "availability_zone": subnet["AvailabilityZone"],
                    "map_public_ip_on_launch": bool(subnet.get("MapPublicIpOnLaunch")),
                },
                attributes=self._attributes(ctx, subnet),
                tags=tags_of(subnet.get("Tags")),
            )
            for subnet in subnets
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        subnet = ec2.describe_subnets(SubnetIds=[physical_id])["Subnets"][0]
        public = bool(new.get("map_public_ip_on_launch"))
        if public != bool(subnet.get("MapPublicIpOnLaunch")):
            ec2.modify_subnet_attribute(SubnetId=physical_id, MapPublicIpOnLaunch={"Value": public})
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(self._attributes(ctx, subnet))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            retry_while_in_use(lambda: ec2.delete_subnet(SubnetId=physical_id))

    @staticmethod
    def _attributes(ctx: HandlerContext, subnet: SubnetTypeDef) -> dict[str, Any]:
        pid = subnet["SubnetId"]
        return {
            "id": pid,
            "arn": subnet.get("SubnetArn") or arn(ctx.region, subnet["OwnerId"], "subnet", pid),
            "availability_zone_id": subnet.get("AvailabilityZoneId"),
        }


class InternetGatewayHandler:
    """``aws.ec2.InternetGateway``: created, then attached to ``vpc``; detached before delete."""

    type_name: ClassVar[str] = "aws.ec2.InternetGateway"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        igw = ec2.create_internet_gateway(
            TagSpecifications=tag_specifications("internet-gateway", ctx.merged_tags(props))
        )["InternetGateway"]
        pid = igw["InternetGatewayId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            ec2.attach_internet_gateway(InternetGatewayId=pid, VpcId=props["vpc"])
        return CreateResult(pid, {"id": pid})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        ec2 = ec2_client(ctx)
        igws = describe_ids(
            ec2,
            "describe_internet_gateways",
            "InternetGateways",
            "internet-gateway-id",
            physical_ids,
        )
        found: dict[str, ReadResult] = {}
        for igw in igws:
            pid = igw["InternetGatewayId"]
            vpcs = _attached_vpcs(igw.get("Attachments"))
            found[pid] = ReadResult(
                properties={"vpc": vpcs[0] if vpcs else None},
                attributes={"id": pid},
                tags=tags_of(igw.get("Tags")),
            )
        return found

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        if self._detach_all(ec2, physical_id, keep=new["vpc"]) != [new["vpc"]]:
            ec2.attach_internet_gateway(InternetGatewayId=physical_id, VpcId=new["vpc"])
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult({"id": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            # AWS refuses to delete an attached gateway (moto does not): detach first.
            self._detach_all(ec2, physical_id)
            ec2.delete_internet_gateway(InternetGatewayId=physical_id)

    @staticmethod
    def _detach_all(ec2: EC2Client, igw_id: str, keep: str | None = None) -> list[str]:
        """Detach from every live VPC but ``keep``; returns the VPCs still attached."""
        igws = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"]
        attached = _attached_vpcs(igws[0].get("Attachments") if igws else None)
        for vpc_id in attached:
            if vpc_id != keep:
                with ignore_not_found():
                    retry_while_in_use(
                        partial(ec2.detach_internet_gateway, InternetGatewayId=igw_id, VpcId=vpc_id)
                    )
        return [vpc_id for vpc_id in attached if vpc_id == keep]


def _attached_vpcs(attachments: Sequence[Any] | None) -> list[str]:
    live = ("attached", "attaching", "available")
    return [a["VpcId"] for a in attachments or () if a.get("State") in live]


class ElasticIpHandler:
    """``aws.ec2.ElasticIp``: a VPC address; its physical id is the allocation id."""

    type_name: ClassVar[str] = "aws.ec2.ElasticIp"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        address = ec2_client(ctx).allocate_address(
            Domain="vpc",
            TagSpecifications=tag_specifications("elastic-ip", ctx.merged_tags(props)),
        )
        pid = address["AllocationId"]
        return CreateResult(pid, {"id": pid, "public_ip": address["PublicIp"]})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        # DescribeAddresses is not paginated: one call returns every match.
        addresses = ec2_client(ctx).describe_addresses(
            Filters=id_filter("allocation-id", physical_ids)
        )["Addresses"]
        return {
            a["AllocationId"]: ReadResult(
                properties={},
                attributes={"id": a["AllocationId"], "public_ip": a.get("PublicIp")},
                tags=tags_of(a.get("Tags")),
            )
            for a in addresses
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        sync_tags(ec2, physical_id, ctx, old, new)
        address = ec2.describe_addresses(AllocationIds=[physical_id])["Addresses"][0]
        return UpdateResult({"id": physical_id, "public_ip": address.get("PublicIp")})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            retry_while_in_use(lambda: ec2.release_address(AllocationId=physical_id))


class NatGatewayHandler:
    """``aws.ec2.NatGateway``: created idempotently (client token), waited for both ways."""

    type_name: ClassVar[str] = "aws.ec2.NatGateway"
    _GONE: ClassVar[frozenset[str]] = frozenset({"deleted", "failed"})

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        extra: dict[str, Any] = {}
        if props.get("elastic_ip"):
            extra["AllocationId"] = props["elastic_ip"]
        nat = ec2.create_nat_gateway(
            SubnetId=props["subnet"],
            ConnectivityType=props.get("connectivity", "public"),
            ClientToken=ctx.token("create"),
            TagSpecifications=tag_specifications("natgateway", ctx.merged_tags(props)),
            **extra,
        )["NatGateway"]
        pid = nat["NatGatewayId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            wait_for(ec2, "nat_gateway_available", NatGatewayIds=[pid])
            nat = ec2.describe_nat_gateways(NatGatewayIds=[pid])["NatGateways"][0]
        return CreateResult(pid, self._attributes(nat))

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        ec2 = ec2_client(ctx)
        nats = describe_ids(
            ec2,
            "describe_nat_gateways",
            "NatGateways",
            "nat-gateway-id",
            physical_ids,
            filter_param="Filter",
        )
        found: dict[str, ReadResult] = {}
        for nat in nats:
            if nat.get("State") in self._GONE:
                continue
            properties: dict[str, Any] = {"subnet": nat["SubnetId"]}
            if nat.get("ConnectivityType"):
                properties["connectivity"] = nat["ConnectivityType"]
            allocations = [
                a["AllocationId"]
                for a in nat.get("NatGatewayAddresses", ())
                if a.get("AllocationId")
            ]
            if allocations:
                properties["elastic_ip"] = allocations[0]
            found[nat["NatGatewayId"]] = ReadResult(
                properties=properties,
                attributes=self._attributes(nat),
                tags=tags_of(nat.get("Tags")),
            )
        return found

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        sync_tags(ec2, physical_id, ctx, old, new)
        nat = ec2.describe_nat_gateways(NatGatewayIds=[physical_id])["NatGateways"][0]
        return UpdateResult(self._attributes(nat))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            ec2.delete_nat_gateway(NatGatewayId=physical_id)
        # Its network interface holds the subnet and the address until it is deleted.
        wait_for(ec2, "nat_gateway_deleted", NatGatewayIds=[physical_id])

    @staticmethod
    def _attributes(nat: NatGatewayTypeDef) -> dict[str, Any]:
        ips = [a["PublicIp"] for a in nat.get("NatGatewayAddresses", ()) if a.get("PublicIp")]
        return {"id": nat["NatGatewayId"], "public_ip": ips[0] if ips else None}


# Route target id prefix -> CreateRoute parameter (the resolved ``gateway`` is an id).
_TARGETS = {
    "igw-": "GatewayId",
    "vgw-": "GatewayId",
    "nat-": "NatGatewayId",
    "eigw-": "EgressOnlyInternetGatewayId",
    "pcx-": "VpcPeeringConnectionId",
    "tgw-": "TransitGatewayId",
}


def _route_args(table_id: str, destination: str, gateway: str) -> dict[str, Any]:
    target = next((key for prefix, key in _TARGETS.items() if gateway.startswith(prefix)), None)
    if target is None:
        raise ValueError(f"route gateway must be an igw-/nat-/... id (got {gateway!r})")
    where = "DestinationIpv6CidrBlock" if ":" in destination else "DestinationCidrBlock"
    return {"RouteTableId": table_id, where: destination, target: gateway}


def _destination_args(table_id: str, destination: str) -> dict[str, Any]:
    where = "DestinationIpv6CidrBlock" if ":" in destination else "DestinationCidrBlock"
    return {"RouteTableId": table_id, where: destination}


class RouteTableHandler:
    """``aws.ec2.RouteTable``: the table, its routes and its subnet associations.

    ``routes`` resolve to ``[{"destination": cidr, "gateway": "igw-..." | "nat-..."}]`` and
    ``subnets`` to subnet ids. Reads return both sorted (by destination, by id).
    """

    type_name: ClassVar[str] = "aws.ec2.RouteTable"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        table = ec2.create_route_table(
            VpcId=props["vpc"],
            TagSpecifications=tag_specifications("route-table", ctx.merged_tags(props)),
        )["RouteTable"]
        pid = table["RouteTableId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            self._apply(ec2, pid, {}, props)
        return CreateResult(pid, {"id": pid})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        ec2 = ec2_client(ctx)
        tables = describe_ids(
            ec2, "describe_route_tables", "RouteTables", "route-table-id", physical_ids
        )
        return {
            table["RouteTableId"]: ReadResult(
                properties={
                    "vpc": table["VpcId"],
                    "routes": [
                        {"destination": dest, "gateway": gw}
                        for dest, gw in sorted(_live_routes(table).items())
                    ],
                    "subnets": sorted(_live_associations(table)),
                },
                attributes={"id": table["RouteTableId"]},
                tags=tags_of(table.get("Tags")),
            )
            for table in tables
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        table = ec2.describe_route_tables(RouteTableIds=[physical_id])["RouteTables"][0]
        self._apply(ec2, physical_id, table, new)
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult({"id": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            table = ec2.describe_route_tables(RouteTableIds=[physical_id])["RouteTables"][0]
            for association_id in _live_associations(table).values():
                with ignore_not_found():
                    ec2.disassociate_route_table(AssociationId=association_id)
            for destination in _live_routes(table):
                with ignore_not_found():
                    ec2.delete_route(**_destination_args(physical_id, destination))
            ec2.delete_route_table(RouteTableId=physical_id)

    @staticmethod
    def _apply(
        ec2: EC2Client,
        table_id: str,
        live: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> None:
        """Make the live routes and associations match ``new`` (diffing against ``live``)."""
        routes = _live_routes(live)
        wanted = {r["destination"]: r["gateway"] for r in new.get("routes") or ()}
        for destination in sorted(set(routes) - set(wanted)):
            with ignore_not_found():
                ec2.delete_route(**_destination_args(table_id, destination))
        for destination, gateway in wanted.items():
            if destination not in routes:
                ec2.create_route(**_route_args(table_id, destination, gateway))
            elif routes[destination] != gateway:
                ec2.replace_route(**_route_args(table_id, destination, gateway))
        associations = _live_associations(live)
        subnets = list(dict.fromkeys(new.get("subnets") or ()))
        for subnet_id in sorted(set(associations) - set(subnets)):
            with ignore_not_found():
                ec2.disassociate_route_table(AssociationId=associations[subnet_id])
        _associate(ec2, table_id, [s for s in subnets if s not in associations])


def _associate(ec2: EC2Client, table_id: str, subnet_ids: Sequence[str]) -> None:
    """Associate ``subnet_ids``, taking over those another table holds.

    AWS refuses to associate a subnet that already has a table (moto silently keeps the
    old one): those move with ReplaceRouteTableAssociation.
    """
    if not subnet_ids:
        return
    others = describe_ids(
        ec2, "describe_route_tables", "RouteTables", "association.subnet-id", subnet_ids
    )
    held = {s: aid for t in others for s, aid in _live_associations(t).items()}
    for subnet_id in subnet_ids:
        if subnet_id in held:
            ec2.replace_route_table_association(
                AssociationId=held[subnet_id], RouteTableId=table_id
            )
        else:
            ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)


def _live_routes(table: Mapping[str, Any]) -> dict[str, str]:
    """Destination -> target id of the routes created by CreateRoute (not local/propagated)."""
    found: dict[str, str] = {}
    for route in table.get("Routes", ()):
        if route.get("Origin") != "CreateRoute":
            continue
        destination = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
        target = next((route[key] for key in _TARGETS.values() if route.get(key)), None)
        if destination and target:
            found[destination] = target
    return found


def _live_associations(table: Mapping[str, Any]) -> dict[str, str]:
    """Subnet id -> association id of the table's explicit subnet associations."""
    return {
        a["SubnetId"]: a["RouteTableAssociationId"]
        for a in table.get("Associations", ())
        if a.get("SubnetId")
        and not a.get("Main")
        and a.get("AssociationState", {}).get("State", "associated")
        in ("associated", "associating")
    }
