"""The VPC handlers against the local cloud: conformance plus AWS's ordering rules."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.network import (
    ElasticIpHandler,
    InternetGatewayHandler,
    NatGatewayHandler,
    SubnetHandler,
    VpcHandler,
)
from infradsl.providers.aws.routing import RouteTableHandler
from infradsl.providers.handler import HandlerContext
from infradsl.testing.plugin import LocalCloudFixture

MISSING_SUBNET = "subnet-0123456789abcdef0"


class Recorder:
    """A ``before-call.ec2`` hook that records the name of every EC2 operation called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, params: Any, **kwargs: Any) -> None:
        self.calls.append(model.name)

    def index(self, name: str) -> int:
        return self.calls.index(name)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clients(local_cloud: LocalCloudFixture, recorder: Recorder) -> Clients:
    return Clients("us-east-1", local_cloud.endpoint, hooks=[("before-call.ec2", recorder)])


def context(clients: Clients, path: str) -> HandlerContext:
    return HandlerContext(stack="test", path=path, region="us-east-1", clients=clients)


@pytest.fixture
def ec2(local_cloud: LocalCloudFixture) -> Any:
    return local_cloud.client("ec2")


@pytest.fixture
def vpc_id(ec2: Any) -> str:
    return str(ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def make_subnet(ec2: Any, vpc_id: str, cidr: str) -> str:
    return str(ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)["Subnet"]["SubnetId"])


def make_igw(ec2: Any, vpc_id: str) -> str:
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    return str(igw)


def test_vpc_handler_passes_the_conformance_suite(clients: Clients) -> None:
    props = {
        "cidr_block": "10.0.0.0/16",
        "enable_dns_support": True,
        "enable_dns_hostnames": True,
        "instance_tenancy": "default",
        "tags": {"team": "net"},
    }
    check_handler(
        VpcHandler(),
        context(clients, "Net/Vpc"),
        props,
        {**props, "enable_dns_hostnames": False, "tags": {"team": "core"}},
    )


def test_vpc_arn_is_built_from_the_owner_account(clients: Clients) -> None:
    created = VpcHandler().create(context(clients, "Net/Vpc"), {"cidr_block": "10.0.0.0/16"})
    assert (
        created.attributes["arn"] == f"arn:aws:ec2:us-east-1:123456789012:vpc/{created.physical_id}"
    )


def test_vpc_tag_update_removes_user_tags_but_keeps_system_tags(clients: Clients) -> None:
    handler, ctx = VpcHandler(), context(clients, "Net/Vpc")
    old = {"cidr_block": "10.0.0.0/16", "tags": {"team": "net", "cost": "1"}}
    pid = handler.create(ctx, old).physical_id
    handler.update(ctx, pid, old, {**old, "tags": {"team": "core"}})
    tags = handler.read(ctx, [pid])[pid].tags
    assert tags == {**ctx.tags, "team": "core"}


def test_subnet_handler_passes_the_conformance_suite(clients: Clients, vpc_id: str) -> None:
    props = {
        "vpc": vpc_id,
        "cidr_block": "10.0.1.0/24",
        "availability_zone": "us-east-1a",
        "map_public_ip_on_launch": False,
        "tags": {},
    }
    check_handler(
        SubnetHandler(),
        context(clients, "Net/Public"),
        props,
        {**props, "map_public_ip_on_launch": True},
    )


def test_subnet_without_a_zone_gets_one_and_reports_its_zone_id(
    clients: Clients, vpc_id: str
) -> None:
    ctx = context(clients, "Net/Public")
    created = SubnetHandler().create(ctx, {"vpc": vpc_id, "cidr_block": "10.0.1.0/24"})
    assert created.attributes["availability_zone_id"]
    live = SubnetHandler().read(ctx, [created.physical_id])[created.physical_id]
    assert live.properties["availability_zone"].startswith("us-east-1")


def test_reading_several_subnets_takes_one_describe_call(
    clients: Clients, recorder: Recorder, vpc_id: str
) -> None:
    handler, ctx = SubnetHandler(), context(clients, "Net/Public")
    ids = [
        handler.create(ctx, {"vpc": vpc_id, "cidr_block": f"10.0.{n}.0/24"}).physical_id
        for n in range(3)
    ]
    recorder.calls.clear()
    assert set(handler.read(ctx, ids)) == set(ids)
    assert recorder.calls == ["DescribeSubnets"]


def test_reading_missing_ids_returns_only_the_existing_ones(clients: Clients, vpc_id: str) -> None:
    ctx = context(clients, "Net/Public")
    pid = SubnetHandler().create(ctx, {"vpc": vpc_id, "cidr_block": "10.0.1.0/24"}).physical_id
    assert set(SubnetHandler().read(ctx, [MISSING_SUBNET, pid])) == {pid}
    assert set(VpcHandler().read(ctx, ["vpc-0123456789abcdef0", vpc_id])) == {vpc_id}
    assert SubnetHandler().read(ctx, []) == {}


def test_internet_gateway_handler_passes_the_conformance_suite(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    check_handler(
        InternetGatewayHandler(),
        context(clients, "Net/Igw"),
        {"vpc": vpc_id, "tags": {}},
        {"vpc": other, "tags": {}},
    )


def test_internet_gateway_is_detached_before_it_is_deleted(
    clients: Clients, recorder: Recorder, vpc_id: str
) -> None:
    handler, ctx = InternetGatewayHandler(), context(clients, "Net/Igw")
    pid = handler.create(ctx, {"vpc": vpc_id}).physical_id
    recorder.calls.clear()
    handler.delete(ctx, pid, {"vpc": vpc_id})
    assert recorder.index("DetachInternetGateway") < recorder.index("DeleteInternetGateway")


def test_elastic_ip_handler_passes_the_conformance_suite(clients: Clients) -> None:
    pid = check_handler(
        ElasticIpHandler(), context(clients, "Net/Nat/Eip"), {"tags": {}}, {"tags": {"a": "b"}}
    )
    assert pid.startswith("eipalloc-")


def test_nat_gateway_handler_passes_the_conformance_suite(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    subnet = make_subnet(ec2, vpc_id, "10.0.1.0/24")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    props = {"subnet": subnet, "elastic_ip": allocation, "connectivity": "public", "tags": {}}
    check_handler(
        NatGatewayHandler(), context(clients, "Net/Nat"), props, {**props, "tags": {"x": "y"}}
    )


def test_nat_gateway_reports_its_public_ip_and_is_waited_for(
    clients: Clients, recorder: Recorder, ec2: Any, vpc_id: str
) -> None:
    subnet = make_subnet(ec2, vpc_id, "10.0.1.0/24")
    address = ec2.allocate_address(Domain="vpc")
    ctx = context(clients, "Net/Nat")
    created = NatGatewayHandler().create(
        ctx, {"subnet": subnet, "elastic_ip": address["AllocationId"]}
    )
    assert created.attributes["public_ip"] == address["PublicIp"]
    recorder.calls.clear()
    NatGatewayHandler().delete(ctx, created.physical_id, {})
    assert recorder.calls[0] == "DeleteNatGateway"
    assert recorder.calls[1:] and set(recorder.calls[1:]) == {"DescribeNatGateways"}


def test_route_table_handler_passes_the_conformance_suite(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    igw = make_igw(ec2, vpc_id)
    first, second = sorted(make_subnet(ec2, vpc_id, f"10.0.{n}.0/24") for n in (1, 2))
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=first, AllocationId=allocation)["NatGateway"]
    props = {
        "vpc": vpc_id,
        "routes": [{"destination": "0.0.0.0/0", "gateway": igw}],
        "subnets": [first],
        "tags": {},
    }
    updated = {
        "vpc": vpc_id,
        "routes": [
            {"destination": "0.0.0.0/0", "gateway": nat["NatGatewayId"]},
            {"destination": "192.168.0.0/16", "gateway": igw},
        ],
        "subnets": [second],
        "tags": {},
    }
    check_handler(RouteTableHandler(), context(clients, "Net/Routes"), props, updated)


def test_route_table_subnets_are_disassociated_before_the_table_is_deleted(
    clients: Clients, recorder: Recorder, ec2: Any, vpc_id: str
) -> None:
    igw = make_igw(ec2, vpc_id)
    subnet = make_subnet(ec2, vpc_id, "10.0.1.0/24")
    handler, ctx = RouteTableHandler(), context(clients, "Net/Routes")
    props = {
        "vpc": vpc_id,
        "routes": [{"destination": "0.0.0.0/0", "gateway": igw}],
        "subnets": [subnet],
    }
    pid = handler.create(ctx, props).physical_id
    recorder.calls.clear()
    handler.delete(ctx, pid, props)
    assert recorder.index("DisassociateRouteTable") < recorder.index("DeleteRouteTable")
    assert recorder.index("DeleteRoute") < recorder.index("DeleteRouteTable")


def test_a_subnet_moves_to_a_route_table_that_takes_it_over(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    subnet = make_subnet(ec2, vpc_id, "10.0.1.0/24")
    handler = RouteTableHandler()
    old_ctx, new_ctx = context(clients, "Net/Old"), context(clients, "Net/New")
    old = handler.create(old_ctx, {"vpc": vpc_id, "subnets": [subnet]}).physical_id
    new = handler.create(new_ctx, {"vpc": vpc_id, "subnets": []}).physical_id
    handler.update(
        new_ctx, new, {"vpc": vpc_id, "subnets": []}, {"vpc": vpc_id, "subnets": [subnet]}
    )
    read = handler.read(new_ctx, [old, new])
    assert read[new].properties["subnets"] == [subnet]
    assert read[old].properties["subnets"] == []


def test_an_update_puts_back_settings_changed_by_hand(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    ctx = context(clients, "Net/Vpc")
    vpc_props = {"cidr_block": "10.1.0.0/16", "enable_dns_hostnames": True, "tags": {}}
    vpc = VpcHandler().create(ctx, vpc_props).physical_id
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})
    subnet_props = {"vpc": vpc_id, "cidr_block": "10.0.1.0/24", "tags": {}}
    subnet = SubnetHandler().create(ctx, subnet_props).physical_id
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})

    VpcHandler().update(ctx, vpc, vpc_props, {**vpc_props, "tags": {"a": "b"}})
    SubnetHandler().update(ctx, subnet, subnet_props, {**subnet_props, "tags": {"a": "b"}})
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")
    assert hostnames["EnableDnsHostnames"]["Value"] is True
    assert (
        SubnetHandler().read(ctx, [subnet])[subnet].properties["map_public_ip_on_launch"] is False
    )


def test_a_tag_only_update_leaves_the_gateway_attached(
    clients: Clients, recorder: Recorder, vpc_id: str
) -> None:
    handler, ctx = InternetGatewayHandler(), context(clients, "Net/Igw")
    pid = handler.create(ctx, {"vpc": vpc_id}).physical_id
    recorder.calls.clear()
    handler.update(ctx, pid, {"vpc": vpc_id}, {"vpc": vpc_id, "tags": {"a": "b"}})
    assert "DetachInternetGateway" not in recorder.calls
    assert handler.read(ctx, [pid])[pid].properties["vpc"] == vpc_id


def test_find_does_not_adopt_what_another_lineage_made(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    """Same stack and path, another state: nothing it made is found (NAT gateways too,
    whose tag filter the local cloud ignores)."""
    ctx = context(clients, "Net/Nat")
    other = attrs.evolve(ctx, lineage="other")
    subnet = make_subnet(ec2, vpc_id, "10.0.1.0/24")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    cases: list[tuple[Any, dict[str, Any]]] = [
        (VpcHandler(), {"cidr_block": "10.9.0.0/16"}),
        (SubnetHandler(), {"vpc": vpc_id, "cidr_block": "10.0.2.0/24"}),
        (InternetGatewayHandler(), {"vpc": vpc_id}),
        (ElasticIpHandler(), {}),
        (NatGatewayHandler(), {"subnet": subnet, "elastic_ip": allocation}),
        (RouteTableHandler(), {"vpc": vpc_id}),
    ]
    for handler, props in cases:
        pid = handler.create(ctx, props).physical_id
        assert handler.find(other, props) is None, handler.type_name
        assert handler.find(ctx, props).physical_id == pid, handler.type_name


def test_find_recovers_a_vpc_whose_create_call_was_never_recorded(
    clients: Clients, ec2: Any
) -> None:
    """The create call went through, then the process died: only the token tag is left."""
    ctx = context(clients, "Net/Vpc")
    vpc = ec2.create_vpc(
        CidrBlock="10.5.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in ctx.tags.items()]}
        ],
    )["Vpc"]
    ec2.create_vpc(CidrBlock="10.6.0.0/16")  # untagged: never adopted
    found = VpcHandler().find(ctx, {"cidr_block": "10.5.0.0/16"})
    assert found is not None and found.physical_id == vpc["VpcId"]
    assert found.attributes["arn"].endswith(f":vpc/{vpc['VpcId']}")


def test_list_stack_lists_only_the_stacks_resources_in_one_call(
    clients: Clients, recorder: Recorder, vpc_id: str
) -> None:
    handler = SubnetHandler()
    mine = handler.create(context(clients, "A"), {"vpc": vpc_id, "cidr_block": "10.0.1.0/24"})
    other_stack = attrs.evolve(context(clients, "A"), stack="other")
    theirs = handler.create(other_stack, {"vpc": vpc_id, "cidr_block": "10.0.2.0/24"})
    recorder.calls.clear()
    assert handler.list_stack(context(clients, "")) == {mine.physical_id: "A"}
    assert recorder.calls == ["DescribeSubnets"]
    assert handler.list_stack(other_stack) == {theirs.physical_id: "A"}
