"""Handlers for the VPC resources: VPCs, subnets, gateways and addresses.

Route tables are in `infradsl.providers.aws.routing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from infradsl.providers.aws._ec2util import (
    arn,
    describe_all,
    describe_ids,
    ec2_client,
    id_filter,
    ignore_not_found,
    one_created,
    retry_while_in_use,
    stack_filter,
    stack_paths,
    sync_tags,
    tag_specifications,
    tags_of,
    token_filter,
    undo_on_failure,
    wait_for,
)
from infradsl.providers.aws._lookup import SubnetLookup, VpcLookup
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
    "SubnetHandler",
    "VpcHandler",
]


class VpcHandler(VpcLookup):
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

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        ec2 = ec2_client(ctx)
        vpcs = describe_all(ec2, "describe_vpcs", "Vpcs", Filters=token_filter(ctx))
        vpc = one_created(ctx, vpcs, "VpcId")
        if vpc is None:
            return None
        if vpc.get("State") != "available":
            wait_for(ec2, "vpc_available", VpcIds=[vpc["VpcId"]])
        return CreateResult(vpc["VpcId"], self._attributes(ctx, vpc))

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        vpcs = describe_all(ec2_client(ctx), "describe_vpcs", "Vpcs", Filters=stack_filter(ctx))
        return stack_paths(ctx, vpcs, "VpcId")

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


class SubnetHandler(SubnetLookup):
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

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        ec2 = ec2_client(ctx)
        subnets = describe_all(ec2, "describe_subnets", "Subnets", Filters=token_filter(ctx))
        subnet = one_created(ctx, subnets, "SubnetId")
        if subnet is None:
            return None
        if subnet.get("State") != "available":
            wait_for(ec2, "subnet_available", SubnetIds=[subnet["SubnetId"]])
        return CreateResult(subnet["SubnetId"], self._attributes(ctx, subnet))

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        ec2 = ec2_client(ctx)
        subnets = describe_all(ec2, "describe_subnets", "Subnets", Filters=stack_filter(ctx))
        return stack_paths(ctx, subnets, "SubnetId")

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

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        igw = one_created(ctx, self._describe(ctx, token_filter(ctx)), "InternetGatewayId")
        if igw is None:
            return None
        return CreateResult(igw["InternetGatewayId"], {"id": igw["InternetGatewayId"]})

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        return stack_paths(ctx, self._describe(ctx, stack_filter(ctx)), "InternetGatewayId")

    @staticmethod
    def _describe(ctx: HandlerContext, filters: Any) -> list[Any]:
        return describe_all(
            ec2_client(ctx), "describe_internet_gateways", "InternetGateways", Filters=filters
        )

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
        ec2 = ec2_client(ctx)
        address = ec2.allocate_address(
            Domain="vpc",
            TagSpecifications=tag_specifications("elastic-ip", ctx.merged_tags(props)),
        )
        pid = address["AllocationId"]
        if props.get("instance"):
            with undo_on_failure(lambda: self.delete(ctx, pid, props)):
                ec2.associate_address(AllocationId=pid, InstanceId=props["instance"])
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
                properties={"instance": a.get("InstanceId")},
                attributes={"id": a["AllocationId"], "public_ip": a.get("PublicIp")},
                tags=tags_of(a.get("Tags")),
            )
            for a in addresses
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        address = ec2.describe_addresses(AllocationIds=[physical_id])["Addresses"][0]
        wanted = new.get("instance")
        if wanted and address.get("InstanceId") != wanted:
            # One call moves it: the old instance (being replaced) keeps running meanwhile.
            ec2.associate_address(
                AllocationId=physical_id, InstanceId=wanted, AllowReassociation=True
            )
        elif not wanted and old.get("instance") and address.get("AssociationId"):
            with ignore_not_found():
                ec2.disassociate_address(AssociationId=address["AssociationId"])
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult({"id": physical_id, "public_ip": address.get("PublicIp")})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            # AWS refuses to release an associated address (moto does not): release it first.
            found = ec2.describe_addresses(Filters=id_filter("allocation-id", [physical_id]))
            for address in found["Addresses"]:
                if address.get("AssociationId"):
                    with ignore_not_found():
                        ec2.disassociate_address(AssociationId=address["AssociationId"])
            retry_while_in_use(lambda: ec2.release_address(AllocationId=physical_id))

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        # DescribeAddresses is not paginated: one call returns every match.
        addresses = ec2_client(ctx).describe_addresses(Filters=token_filter(ctx))["Addresses"]
        address = one_created(ctx, addresses, "AllocationId")
        if address is None:
            return None
        pid = address["AllocationId"]
        return CreateResult(pid, {"id": pid, "public_ip": address.get("PublicIp")})

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        addresses = ec2_client(ctx).describe_addresses(Filters=stack_filter(ctx))["Addresses"]
        return stack_paths(ctx, addresses, "AllocationId")


class NatGatewayHandler:
    """``aws.ec2.NatGateway``: created idempotently (client token), waited for both ways."""

    type_name: ClassVar[str] = "aws.ec2.NatGateway"
    _GONE: ClassVar[frozenset[str]] = frozenset({"deleted", "failed"})
    # Not found by `find` nor listed: gone, or on the way out.
    _LEAVING: ClassVar[frozenset[str]] = frozenset({"deleting", "deleted", "failed"})

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

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        ec2 = ec2_client(ctx)
        nat = one_created(ctx, self._live(ctx, token_filter(ctx)), "NatGatewayId")
        if nat is None:
            return None
        pid = nat["NatGatewayId"]
        if nat.get("State") != "available":
            # The create died while the gateway was pending: wait as create does.
            wait_for(ec2, "nat_gateway_available", NatGatewayIds=[pid])
            nat = ec2.describe_nat_gateways(NatGatewayIds=[pid])["NatGateways"][0]
        return CreateResult(pid, self._attributes(nat))

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        return stack_paths(ctx, self._live(ctx, stack_filter(ctx)), "NatGatewayId")

    def _live(self, ctx: HandlerContext, filters: Any) -> list[Any]:
        """The gateways matching ``filters`` that are not deleted nor being deleted."""
        nats = describe_all(ec2_client(ctx), "describe_nat_gateways", "NatGateways", Filter=filters)
        return [nat for nat in nats if nat.get("State") not in self._LEAVING]

    @staticmethod
    def _attributes(nat: NatGatewayTypeDef) -> dict[str, Any]:
        ips = [a["PublicIp"] for a in nat.get("NatGatewayAddresses", ()) if a.get("PublicIp")]
        return {"id": nat["NatGatewayId"], "public_ip": ips[0] if ips else None}
