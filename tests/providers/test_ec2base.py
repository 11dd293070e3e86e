"""The EC2 handler base on a stub client: read, find and list_stack from one Describe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws.registry import handler_for, handlers
from infradsl.providers.handler import TOKEN_TAG, HandlerContext


class _Pages:
    def __init__(self, client: _Ec2, operation: str) -> None:
        self.client, self.operation = client, operation

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        yield getattr(self.client, self.operation)(**params)


class _Ec2:
    """Answers ``describe_things`` from ``items``, applying the filters it knows."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.waits: list[tuple[str, dict[str, Any]]] = []

    def client(self, service: str) -> _Ec2:
        assert service == "ec2"
        return self

    def get_paginator(self, operation: str) -> _Pages:
        return _Pages(self, operation)

    def get_waiter(self, name: str) -> Any:
        client = self

        class Waiter:
            def wait(self, WaiterConfig: Any, **params: Any) -> None:
                client.waits.append((name, params))

        return Waiter()

    def describe_things(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("describe_things", params))
        if "ThingIds" in params:
            return {"Things": [i for i in self.items if i["ThingId"] in params["ThingIds"]]}
        found = list(self.items)
        for f in params.get("Filters", []):
            if f["Name"] == "thing-id":
                found = [i for i in found if i["ThingId"] in f["Values"]]
            else:
                key = f["Name"].removeprefix("tag:")
                found = [i for i in found if _tags(i).get(key) in f["Values"]]
        return {"Things": found}


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


class ThingHandler(Ec2Handler):
    type_name: ClassVar[str] = "test.Thing"
    describe = Describe.of("Thing")
    gone_states: ClassVar[frozenset[str]] = frozenset({"deleted"})
    leaving_states: ClassVar[frozenset[str] | None] = frozenset({"deleting", "deleted"})
    ready = ("thing_available", "available")

    def _properties(self, item: Any) -> dict[str, Any]:
        return {"size": item["Size"]}


def _context(client: _Ec2, path: str = "Thing", attempt: int = 0) -> HandlerContext:
    return HandlerContext(
        stack="s", path=path, region="us-east-1", clients=client, attempt=attempt, lineage="L"
    )


def _item(thing_id: str, ctx: HandlerContext, state: str = "available") -> dict[str, Any]:
    tags = [{"Key": k, "Value": v} for k, v in sorted(ctx.tags.items())]
    return {"ThingId": thing_id, "State": state, "Size": 1, "Tags": tags}


def test_describe_of_spells_each_ec2_handlers_describe_as_the_api_does() -> None:
    expected = {
        "aws.ec2.Vpc": ("describe_vpcs", "Vpcs", "VpcId", "vpc-id", "VpcIds"),
        "aws.ec2.Subnet": ("describe_subnets", "Subnets", "SubnetId", "subnet-id", "SubnetIds"),
        "aws.ec2.InternetGateway": (
            "describe_internet_gateways",
            "InternetGateways",
            "InternetGatewayId",
            "internet-gateway-id",
            "InternetGatewayIds",
        ),
        "aws.ec2.NatGateway": (
            "describe_nat_gateways",
            "NatGateways",
            "NatGatewayId",
            "nat-gateway-id",
            "NatGatewayIds",
        ),
        "aws.ec2.ElasticIp": (
            "describe_addresses",
            "Addresses",
            "AllocationId",
            "allocation-id",
            "AllocationIds",
        ),
        "aws.ec2.RouteTable": (
            "describe_route_tables",
            "RouteTables",
            "RouteTableId",
            "route-table-id",
            "RouteTableIds",
        ),
        "aws.ec2.SecurityGroup": (
            "describe_security_groups",
            "SecurityGroups",
            "GroupId",
            "group-id",
            "GroupIds",
        ),
        "aws.ec2.SecurityGroupRule": (
            "describe_security_group_rules",
            "SecurityGroupRules",
            "SecurityGroupRuleId",
            "security-group-rule-id",
            "SecurityGroupRuleIds",
        ),
        "aws.ec2.Instance": (
            "describe_instances",
            "Reservations",
            "InstanceId",
            "instance-id",
            "InstanceIds",
        ),
        "aws.ec2.KeyPair": ("describe_key_pairs", "KeyPairs", "KeyName", "key-name", "KeyNames"),
        "aws.ec2.Volume": ("describe_volumes", "Volumes", "VolumeId", "volume-id", "VolumeIds"),
        "aws.ec2.Image": ("describe_images", "Images", "ImageId", "image-id", "ImageIds"),
    }
    got = {
        t: tuple(handler_for(t).describe[:5])  # type: ignore[attr-defined]
        for t in handlers()
        if isinstance(handler_for(t), Ec2Handler)
    }
    assert got == expected
    assert handler_for("aws.ec2.NatGateway").describe.filter_param == "Filter"  # type: ignore[attr-defined]


def test_find_takes_the_item_of_this_creation_and_waits_until_it_is_ready() -> None:
    ctx = _context(_Ec2([]))
    other = _context(ctx.clients, attempt=1)  # type: ignore[arg-type]
    client = _Ec2([_item("t-2", other), _item("t-1", ctx, state="pending")])
    found = ThingHandler().find(_context(client), {})
    assert found is not None
    assert (found.physical_id, dict(found.attributes)) == ("t-1", {"id": "t-1"})
    token = [{"Name": f"tag:{TOKEN_TAG}", "Values": [ctx.creation_token]}]
    assert client.calls == [("describe_things", {"Filters": token})]
    assert client.waits == [("thing_available", {"ThingIds": ["t-1"]})]


def test_find_neither_finds_another_attempts_item_nor_one_on_the_way_out() -> None:
    ctx = _context(_Ec2([]))
    client = _Ec2([_item("t-1", _context(ctx.clients, attempt=1)), _item("t-2", ctx, "deleting")])  # type: ignore[arg-type]
    assert ThingHandler().find(_context(client), {}) is None
    assert client.waits == []


def test_list_stack_maps_the_live_items_of_the_stack_to_their_paths() -> None:
    ctx = _context(_Ec2([]))
    items = [
        _item("t-1", ctx),
        _item("t-2", _context(ctx.clients, path="Net/Other")),  # type: ignore[arg-type]
        _item("t-3", ctx, state="deleting"),
    ]
    assert ThingHandler().list_stack(_context(_Ec2(items))) == {"t-1": "Thing", "t-2": "Net/Other"}


def test_read_asks_by_filter_in_chunks_of_200_ids_and_leaves_gone_items_out() -> None:
    ctx = _context(_Ec2([]))
    items = [_item(f"t-{n}", ctx) for n in range(450)]
    items[7]["State"] = "deleted"
    items[8]["State"] = "deleting"  # still there for read (leaving only hides it from find)
    client = _Ec2(items)
    ids = [f"t-{n}" for n in range(450)] + ["t-missing"]
    read = ThingHandler().read(_context(client), ids)
    assert len(client.calls) == 3
    assert [len(c[1]["Filters"][0]["Values"]) for c in client.calls] == [200, 200, 51]
    assert sorted(read) == sorted(f"t-{n}" for n in range(450) if n != 7)
    assert read["t-1"].properties == {"size": 1}
    assert read["t-1"].attributes == {"id": "t-1"}
    assert read["t-1"].tags == ctx.tags
    assert ThingHandler().read(_context(client), []) == {}
    assert len(client.calls) == 3, "no ids, no call"


def test_an_operation_without_pages_is_called_once_and_extra_parameters_go_along() -> None:
    class Unpaged(ThingHandler):
        describe = Describe.of("Thing", paginated=False)
        describe_params: ClassVar[Mapping[str, Any]] = {"Owners": ["self"]}

    ctx = _context(_Ec2([]))
    client = _Ec2([_item("t-1", ctx)])
    client.get_paginator = None  # type: ignore[assignment,method-assign]
    assert Unpaged().list_stack(_context(client)) == {"t-1": "Thing"}
    stack = [{"Name": "tag:infradsl:stack", "Values": ["s"]}]
    assert client.calls == [("describe_things", {"Owners": ["self"], "Filters": stack})]


def test_a_base_handler_without_properties_says_so() -> None:
    class Bare(Ec2Handler):
        type_name: ClassVar[str] = "test.Bare"
        describe = Describe.of("Thing")

    ctx = _context(_Ec2([]))
    with pytest.raises(NotImplementedError, match="Bare reads no properties"):
        Bare().read(_context(_Ec2([_item("t-1", ctx)])), ["t-1"])
