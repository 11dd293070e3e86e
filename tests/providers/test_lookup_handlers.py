"""`LookupHandler.lookup` of the VPC, subnet, security group and role handlers, against the
local cloud, on resources made by hand (as another team or tool would)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.compute import InstanceHandler
from infradsl.providers.aws.firewall import SecurityGroupHandler
from infradsl.providers.aws.iam import RoleHandler
from infradsl.providers.aws.network import SubnetHandler, VpcHandler
from infradsl.providers.handler import HandlerContext, LookupHandler
from infradsl.testing.plugin import LocalCloudFixture

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def ctx(local_cloud: LocalCloudFixture) -> HandlerContext:
    clients = Clients("us-east-1", local_cloud.endpoint)
    return HandlerContext(stack="test", path="Shared", region="us-east-1", clients=clients)


@pytest.fixture
def ec2(local_cloud: LocalCloudFixture) -> Any:
    return local_cloud.client("ec2")


def tagged(kind: str, **tags: str) -> list[Any]:
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


@pytest.fixture
def shared(ec2: Any) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagged("vpc", Name="shared"))
    return str(vpc["Vpc"]["VpcId"])


def test_the_four_handlers_and_only_they_can_look_up() -> None:
    for handler in (VpcHandler(), SubnetHandler(), SecurityGroupHandler(), RoleHandler()):
        assert isinstance(handler, LookupHandler)
    assert not isinstance(InstanceHandler(), LookupHandler)


def test_a_vpc_is_found_by_tags_id_range_or_as_the_default(
    ctx: HandlerContext, ec2: Any, shared: str
) -> None:
    ec2.create_vpc(CidrBlock="10.30.0.0/16", TagSpecifications=tagged("vpc", Name="sharp"))
    handler = VpcHandler()
    found = handler.lookup(ctx, {"tags": {"Name": "shared"}})
    assert list(found) == [shared]
    vpc = found[shared]
    assert vpc.properties["cidr_block"] == "10.20.0.0/16"
    assert vpc.properties["cidr_blocks"] == ["10.20.0.0/16"]
    assert vpc.properties["enable_dns_support"] is True
    assert vpc.attributes["id"] == shared and vpc.attributes["arn"].endswith(f":vpc/{shared}")
    assert vpc.tags == {"Name": "shared"}
    assert list(handler.lookup(ctx, {"id": shared})) == [shared]
    assert list(handler.lookup(ctx, {"cidr_block": "10.20.0.0/16"})) == [shared]
    assert len(handler.lookup(ctx, {"tags": {"Name": "sha*"}})) == 2
    (default,) = handler.lookup(ctx, {"default": True}).values()
    assert default.properties["cidr_block"] == "172.31.0.0/16"
    assert handler.lookup(ctx, {"tags": {"Name": "shared"}, "default": True}) == {}
    assert handler.lookup(ctx, {"tags": {"Name": "missing"}}) == {}


def test_a_vpc_with_a_second_range_reports_both(ctx: HandlerContext, ec2: Any, shared: str) -> None:
    ec2.associate_vpc_cidr_block(VpcId=shared, CidrBlock="10.21.0.0/16")
    (vpc,) = VpcHandler().lookup(ctx, {"id": shared}).values()
    assert vpc.properties["cidr_blocks"] == ["10.20.0.0/16", "10.21.0.0/16"]


def test_a_subnet_is_found_in_its_vpc_and_zone(ctx: HandlerContext, ec2: Any, shared: str) -> None:
    subnets = {
        zone: ec2.create_subnet(
            VpcId=shared,
            CidrBlock=cidr,
            AvailabilityZone=zone,
            TagSpecifications=tagged("subnet", tier="private"),
        )["Subnet"]["SubnetId"]
        for zone, cidr in (("us-east-1a", "10.20.1.0/24"), ("us-east-1b", "10.20.2.0/24"))
    }
    handler = SubnetHandler()
    found = handler.lookup(ctx, {"vpc": shared, "availability_zone": "us-east-1b"})
    assert list(found) == [subnets["us-east-1b"]]
    subnet = found[subnets["us-east-1b"]]
    assert subnet.properties["vpc"] == shared
    assert subnet.properties["cidr_block"] == "10.20.2.0/24"
    assert subnet.attributes["availability_zone_id"]
    assert sorted(handler.lookup(ctx, {"tags": {"tier": "private"}})) == sorted(subnets.values())
    assert list(handler.lookup(ctx, {"cidr_block": "10.20.1.0/24"})) == [subnets["us-east-1a"]]


def test_a_security_group_is_found_by_name_in_a_vpc(
    ctx: HandlerContext, ec2: Any, shared: str
) -> None:
    group = ec2.create_security_group(GroupName="bastion", Description="ssh", VpcId=shared)
    handler = SecurityGroupHandler()
    found = handler.lookup(ctx, {"name": "bastion", "vpc": shared})
    assert list(found) == [group["GroupId"]]
    assert found[group["GroupId"]].properties["group_name"] == "bastion"
    # Every VPC has a group named "default": the VPC tells them apart.
    assert len(handler.lookup(ctx, {"name": "default"})) >= 2
    assert len(handler.lookup(ctx, {"name": "default", "vpc": shared})) == 1


def test_a_role_is_found_by_name_or_arn_with_its_managed_policies(
    ctx: HandlerContext, local_cloud: LocalCloudFixture
) -> None:
    iam = local_cloud.client("iam")
    role = iam.create_role(
        RoleName="ops-role",
        Path="/ops/",
        AssumeRolePolicyDocument=json.dumps(TRUST),
        Description="operators",
        Tags=[{"Key": "team", "Value": "ops"}],
    )["Role"]
    # AWS's managed policies exist in the local cloud.
    iam.attach_role_policy(
        RoleName="ops-role", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )
    handler = RoleHandler()
    found = handler.lookup(ctx, {"name": "ops-role"})
    assert list(found) == ["ops-role"]
    ops = found["ops-role"]
    assert ops.attributes == {"id": "ops-role", "arn": role["Arn"], "name": "ops-role"}
    assert ops.properties["assumed_by"] == "ec2.amazonaws.com"
    assert ops.properties["path"] == "/ops/"
    assert ops.properties["description"] == "operators"
    assert ops.properties["managed_policies"] == [
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    ]
    assert ops.tags == {"team": "ops"}
    assert list(handler.lookup(ctx, {"arn": role["Arn"]})) == ["ops-role"]
    assert handler.lookup(ctx, {"arn": "arn:aws:iam::123456789012:role/other/ops-role"}) == {}
    assert handler.lookup(ctx, {"name": "nobody"}) == {}


def check_lookup(handler: Any, ctx: HandlerContext, props: dict[str, Any], by: str) -> None:
    """What a handler creates, its lookup finds by ``by`` (the id, or a role's name) with
    at least what ``read`` returns: a looked-up resource has every value a managed one has.
    """
    created = handler.create(ctx, props)
    pid = created.physical_id
    try:
        found = handler.lookup(ctx, {by: pid})
        assert list(found) == [pid]
        (read,) = handler.read(ctx, [pid]).values()
        assert dict(found[pid].attributes) == dict(read.attributes)
        assert dict(found[pid].properties).items() >= dict(read.properties).items()
        assert found[pid].tags == read.tags
    finally:
        handler.delete(ctx, pid, props)
    assert handler.lookup(ctx, {by: pid}) == {}


def test_every_lookup_handler_finds_what_it_created_with_what_read_returns(
    ctx: HandlerContext, shared: str
) -> None:
    check_lookup(VpcHandler(), ctx, {"cidr_block": "10.40.0.0/16"}, "id")
    check_lookup(SubnetHandler(), ctx, {"vpc": shared, "cidr_block": "10.20.9.0/24"}, "id")
    check_lookup(SecurityGroupHandler(), ctx, {"vpc": shared, "description": "x"}, "id")
    check_lookup(RoleHandler(), ctx, {"assumed_by": "ec2.amazonaws.com"}, "name")


def test_the_fake_handler_looks_up_like_the_real_ones() -> None:
    from infradsl.providers.fake import FakeCloud

    cloud = FakeCloud()
    fake_ctx = HandlerContext(stack="test", path="Vpc", region="us-east-1", clients=cloud)
    assert isinstance(cloud.handler("aws.ec2.Vpc"), LookupHandler)
    check_lookup(cloud.handler("aws.ec2.Vpc"), fake_ctx, {"cidr_block": "10.0.0.0/16"}, "id")
    made = cloud.add_existing("aws.ec2.Vpc", {"cidr_block": "10.1.0.0/16"}, {"Name": "shared"})
    found = cloud.handler("aws.ec2.Vpc").lookup(fake_ctx, {"tags": {"Name": "sh*"}})
    assert list(found) == [made]
