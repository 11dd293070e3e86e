"""Handlers for the VPC resources: VPCs, subnets, gateways and addresses.

Route tables are in `infradsl.providers.aws.routing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import (
    arn,
    ec2_client,
    ignore_not_found,
    retry_while_in_use,
    sync_tags,
    tag_specifications,
    undo_on_failure,
    wait_for,
)
from infradsl.providers.aws._lookup import SubnetLookup, VpcLookup
from infradsl.providers.handler import CreateResult, HandlerContext, UpdateResult

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
    ready = ("vpc_available", "available")

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        vpc = ec2.create_vpc(
            CidrBlock=props["cidr_block"],
            InstanceTenancy=props.get("instance_tenancy", "default"),
            TagSpecifications=tag_specifications("vpc", ctx.merged_tags(props)),
        )["Vpc"]
        pid = vpc["VpcId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            self._wait_ready(ec2, vpc)
            _set_dns(ec2, pid, props, fresh=True)
        return CreateResult(pid, self._attributes(ctx, vpc))

    def _properties(self, item: Any) -> dict[str, Any]:
        # The DNS settings are not in DescribeVpcs and would cost two calls per VPC; a
        # refresh stays at one call per page, so their drift is not detected.
        return {
            "cidr_block": item["CidrBlock"],
            "instance_tenancy": item.get("InstanceTenancy", "default"),
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        _set_dns(ec2, physical_id, new, fresh=False)
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(self._attributes(ctx, self._get(ec2, physical_id)))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            retry_while_in_use(lambda: ec2.delete_vpc(VpcId=physical_id))

    def _attributes(self, ctx: HandlerContext, item: VpcTypeDef) -> dict[str, Any]:
        pid = item["VpcId"]
        return {"id": pid, "arn": arn(ctx.region, item["OwnerId"], "vpc", pid)}


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
    ready = ("subnet_available", "available")

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
            self._wait_ready(ec2, subnet)
            if props.get("map_public_ip_on_launch"):
                ec2.modify_subnet_attribute(SubnetId=pid, MapPublicIpOnLaunch={"Value": True})
        return CreateResult(pid, self._attributes(ctx, subnet))

    def _properties(self, item: Any) -> dict[str, Any]:
        return {
            "vpc": item["VpcId"],
            "cidr_block": item["CidrBlock"],
            "availability_zone": item["AvailabilityZone"],
            "map_public_ip_on_launch": bool(item.get("MapPublicIpOnLaunch")),
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        subnet = self._get(ec2, physical_id)
        public = bool(new.get("map_public_ip_on_launch"))
        if public != bool(subnet.get("MapPublicIpOnLaunch")):
            ec2.modify_subnet_attribute(SubnetId=physical_id, MapPublicIpOnLaunch={"Value": public})
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(self._attributes(ctx, subnet))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            retry_while_in_use(lambda: ec2.delete_subnet(SubnetId=physical_id))

    def _attributes(self, ctx: HandlerContext, item: SubnetTypeDef) -> dict[str, Any]:
        pid = item["SubnetId"]
        return {
            "id": pid,
            "arn": item.get("SubnetArn") or arn(ctx.region, item["OwnerId"], "subnet", pid),
            "availability_zone_id": item.get("AvailabilityZoneId"),
        }


class InternetGatewayHandler(Ec2Handler):
    """``aws.ec2.InternetGateway``: created, then attached to ``vpc``; detached before delete."""

    type_name: ClassVar[str] = "aws.ec2.InternetGateway"
    describe = Describe.of("InternetGateway")

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        igw = ec2.create_internet_gateway(
            TagSpecifications=tag_specifications("internet-gateway", ctx.merged_tags(props))
        )["InternetGateway"]
        pid = igw["InternetGatewayId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            ec2.attach_internet_gateway(InternetGatewayId=pid, VpcId=props["vpc"])
        return CreateResult(pid, {"id": pid})

    def _properties(self, item: Any) -> dict[str, Any]:
        vpcs = _attached_vpcs(item.get("Attachments"))
        return {"vpc": vpcs[0] if vpcs else None}

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


class ElasticIpHandler(Ec2Handler):
    """``aws.ec2.ElasticIp``: a VPC address; its physical id is the allocation id."""

    type_name: ClassVar[str] = "aws.ec2.ElasticIp"
    # DescribeAddresses is not paginated: one call returns every match.
    describe = Describe.of(
        "Address",
        id_key="AllocationId",
        id_filter="allocation-id",
        ids_param="AllocationIds",
        paginated=False,
    )

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
        return CreateResult(pid, self._attributes(ctx, address))

    def _properties(self, item: Any) -> dict[str, Any]:
        return {"instance": item.get("InstanceId")}

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        return {"id": item["AllocationId"], "public_ip": item.get("PublicIp")}

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        address = self._get(ec2, physical_id)
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
        return UpdateResult(self._attributes(ctx, address))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            # AWS refuses to release an associated address (moto does not): release it first.
            for address in self._read_ids(ec2, [physical_id]):
                if address.get("AssociationId"):
                    with ignore_not_found():
                        ec2.disassociate_address(AssociationId=address["AssociationId"])
            retry_while_in_use(lambda: ec2.release_address(AllocationId=physical_id))


class NatGatewayHandler(Ec2Handler):
    """``aws.ec2.NatGateway``: created idempotently (client token), waited for both ways."""

    type_name: ClassVar[str] = "aws.ec2.NatGateway"
    describe = Describe.of("NatGateway", filter_param="Filter")
    gone_states: ClassVar[frozenset[str]] = frozenset({"deleted", "failed"})
    # Not found by `find` nor listed: gone, or on the way out.
    leaving_states: ClassVar[frozenset[str] | None] = frozenset({"deleting", "deleted", "failed"})
    ready = ("nat_gateway_available", "available")

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
            nat = self._get(ec2, pid)
        return CreateResult(pid, self._attributes(ctx, nat))

    def _properties(self, item: Any) -> dict[str, Any]:
        properties: dict[str, Any] = {"subnet": item["SubnetId"]}
        if item.get("ConnectivityType"):
            properties["connectivity"] = item["ConnectivityType"]
        allocations = [
            a["AllocationId"] for a in item.get("NatGatewayAddresses", ()) if a.get("AllocationId")
        ]
        if allocations:
            properties["elastic_ip"] = allocations[0]
        return properties

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(self._attributes(ctx, self._get(ec2, physical_id)))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            ec2.delete_nat_gateway(NatGatewayId=physical_id)
        # Its network interface holds the subnet and the address until it is deleted.
        wait_for(ec2, "nat_gateway_deleted", NatGatewayIds=[physical_id])

    def _when_found(self, ec2: EC2Client, item: Any) -> Any:
        # The addresses come with "available": described again after the wait.
        return self._get(ec2, self._id(item)) if self._wait_ready(ec2, item) else item

    def _attributes(self, ctx: HandlerContext, item: NatGatewayTypeDef) -> dict[str, Any]:
        ips = [a["PublicIp"] for a in item.get("NatGatewayAddresses", ()) if a.get("PublicIp")]
        return {"id": item["NatGatewayId"], "public_ip": ips[0] if ips else None}
