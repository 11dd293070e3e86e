"""The security group handlers against the local cloud: conformance and rule diffing."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.firewall import SecurityGroupHandler, SecurityGroupRuleHandler
from infradsl.providers.handler import HandlerContext
from infradsl.testing.plugin import LocalCloudFixture

HTTPS = {"protocol": "tcp", "from_port": 443, "to_port": 443, "source": "0.0.0.0/0"}
SSH = {"protocol": "tcp", "from_port": 22, "to_port": 22, "source": "10.0.0.0/8"}
ALL_OUT = {"protocol": "all", "from_port": 0, "to_port": 65535, "source": "0.0.0.0/0"}


class Recorder:
    """A ``before-parameter-build.ec2`` hook: every EC2 operation with its API parameters.

    (``before-call`` sees the serialized query body; this event sees the boto3 kwargs.)
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, model: Any, params: Any, **kwargs: Any) -> None:
        self.calls.append((model.name, params))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clients(local_cloud: LocalCloudFixture, recorder: Recorder) -> Clients:
    return Clients(
        "us-east-1", local_cloud.endpoint, hooks=[("before-parameter-build.ec2", recorder)]
    )


def context(clients: Clients, path: str) -> HandlerContext:
    return HandlerContext(stack="test", path=path, region="us-east-1", clients=clients)


@pytest.fixture
def ec2(local_cloud: LocalCloudFixture) -> Any:
    return local_cloud.client("ec2")


@pytest.fixture
def vpc_id(ec2: Any) -> str:
    return str(ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def group(vpc_id: str, **props: Any) -> dict[str, Any]:
    return {"vpc": vpc_id, "description": "web tier", "tags": {}, **props}


def test_security_group_handler_passes_the_conformance_suite(clients: Clients, vpc_id: str) -> None:
    props = group(vpc_id, ingress=[HTTPS], egress=[ALL_OUT], group_name="web")
    updated = {**props, "ingress": [SSH, {**HTTPS, "description": "public https"}]}
    pid = check_handler(SecurityGroupHandler(), context(clients, "WebSg"), props, updated)
    assert pid.startswith("sg-")


def test_security_group_rules_read_back_after_an_update_revokes_and_authorizes(
    clients: Clients, recorder: Recorder, vpc_id: str
) -> None:
    handler, ctx = SecurityGroupHandler(), context(clients, "WebSg")
    old = group(vpc_id, ingress=[HTTPS, SSH])
    new = group(vpc_id, ingress=[HTTPS, {**SSH, "source": "192.168.0.0/16"}])
    pid = handler.create(ctx, old).physical_id
    recorder.calls.clear()
    handler.update(ctx, pid, old, new)
    assert recorder.names.index("RevokeSecurityGroupIngress") < recorder.names.index(
        "AuthorizeSecurityGroupIngress"
    )
    assert len(dict(recorder.calls)["RevokeSecurityGroupIngress"]["SecurityGroupRuleIds"]) == 1
    assert dict(recorder.calls)["AuthorizeSecurityGroupIngress"]["IpPermissions"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "192.168.0.0/16"}],
        }
    ]
    live = handler.read(ctx, [pid])[pid].properties
    assert live["ingress"] == [{**SSH, "source": "192.168.0.0/16"}, HTTPS]  # sorted by port
    assert live["egress"] == [ALL_OUT]


def test_a_group_without_egress_keeps_the_default_and_a_list_replaces_it(
    clients: Clients, vpc_id: str
) -> None:
    handler, ctx = SecurityGroupHandler(), context(clients, "Sg")
    default = handler.create(ctx, group(vpc_id)).physical_id
    narrow = handler.create(
        context(clients, "Narrow"), group(vpc_id, egress=[{**HTTPS, "description": "out"}])
    ).physical_id
    read = handler.read(ctx, [default, narrow])
    assert read[default].properties["egress"] == [ALL_OUT]
    assert read[narrow].properties["egress"] == [{**HTTPS, "description": "out"}]
    handler.update(ctx, narrow, group(vpc_id, egress=[HTTPS]), group(vpc_id))
    assert handler.read(ctx, [narrow])[narrow].properties["egress"] == [ALL_OUT]


def test_rule_sources_map_to_ipv6_ranges_group_pairs_and_prefix_lists(
    clients: Clients, recorder: Recorder, ec2: Any, vpc_id: str
) -> None:
    handler = SecurityGroupHandler()
    other = handler.create(context(clients, "Other"), group(vpc_id)).physical_id
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=2, AddressFamily="IPv4"
    )["PrefixList"]["PrefixListId"]
    ingress = [
        {"protocol": "all", "from_port": 0, "to_port": 65535, "source": "::/0"},
        {"protocol": "icmp", "from_port": 8, "to_port": -1, "source": "10.0.0.0/8"},
        {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source": other},
        {"protocol": "udp", "from_port": 53, "to_port": 53, "source": prefix_list},
    ]
    recorder.calls.clear()
    ctx = context(clients, "Db")
    pid = handler.create(ctx, group(vpc_id, ingress=ingress)).physical_id
    sent = dict(recorder.calls)["AuthorizeSecurityGroupIngress"]["IpPermissions"]
    assert sent == [
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "UserIdGroupPairs": [{"GroupId": other}],
        },
        {
            "IpProtocol": "udp",
            "FromPort": 53,
            "ToPort": 53,
            "PrefixListIds": [{"PrefixListId": prefix_list}],
        },
    ]
    live = handler.read(ctx, [pid])[pid].properties["ingress"]
    assert sorted(map(str, live)) == sorted(map(str, ingress))


def test_reading_several_groups_takes_one_call_per_describe_operation(
    clients: Clients, recorder: Recorder, vpc_id: str
) -> None:
    handler = SecurityGroupHandler()
    ids = [
        handler.create(context(clients, f"Sg{n}"), group(vpc_id, ingress=[HTTPS])).physical_id
        for n in range(3)
    ]
    recorder.calls.clear()
    read = handler.read(context(clients, "Sg0"), [*ids, "sg-0123456789abcdef0"])
    assert set(read) == set(ids)
    assert recorder.names == ["DescribeSecurityGroups", "DescribeSecurityGroupRules"]


def test_security_group_rule_handler_passes_the_conformance_suite(
    clients: Clients, vpc_id: str
) -> None:
    handler = SecurityGroupHandler()
    web = handler.create(context(clients, "WebSg"), group(vpc_id)).physical_id
    db = handler.create(context(clients, "DbSg"), group(vpc_id)).physical_id
    rule = {
        "protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        "source": web,
        "description": "postgres from web",
    }
    pid = check_handler(
        SecurityGroupRuleHandler(),
        context(clients, "DbFromWeb"),
        {"group": db, "rule": rule, "direction": "ingress"},
    )
    assert pid.startswith("sgr-")


def test_a_group_leaves_rules_of_standalone_rule_resources_out_of_its_own(
    clients: Clients, vpc_id: str
) -> None:
    groups, ctx = SecurityGroupHandler(), context(clients, "DbSg")
    db = groups.create(ctx, group(vpc_id, ingress=[HTTPS])).physical_id
    rule = {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source": "10.0.0.0/8"}
    rules = SecurityGroupRuleHandler()
    rule_ctx = context(clients, "DbFromApp")
    pid = rules.create(rule_ctx, {"group": db, "rule": rule, "direction": "egress"}).physical_id
    assert groups.read(ctx, [db])[db].properties["egress"] == [ALL_OUT]
    assert rules.read(rule_ctx, [pid])[pid].properties == {
        "group": db,
        "direction": "egress",
        "rule": rule,
    }


def test_a_retried_rule_creation_adopts_the_rule_it_created_before(
    clients: Clients, vpc_id: str
) -> None:
    db = SecurityGroupHandler().create(context(clients, "DbSg"), group(vpc_id)).physical_id
    props = {"group": db, "rule": SSH, "direction": "ingress"}
    ctx = context(clients, "DbSsh")
    first = SecurityGroupRuleHandler().create(ctx, props).physical_id
    assert SecurityGroupRuleHandler().create(ctx, props).physical_id == first


def test_an_update_puts_back_a_rule_revoked_by_hand_and_keeps_standalone_rules(
    clients: Clients, ec2: Any, vpc_id: str
) -> None:
    groups, ctx = SecurityGroupHandler(), context(clients, "DbSg")
    old = group(vpc_id, ingress=[HTTPS, SSH])
    db = groups.create(ctx, old).physical_id
    standalone = {"group": db, "rule": {**SSH, "source": "172.16.0.0/12"}, "direction": "ingress"}
    rule_id = SecurityGroupRuleHandler().create(context(clients, "DbExtra"), standalone).physical_id
    ec2.revoke_security_group_ingress(
        GroupId=db,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    )
    assert groups.read(ctx, [db])[db].properties["ingress"] == [HTTPS]

    groups.update(ctx, db, old, {**old, "tags": {"team": "db"}})
    assert groups.read(ctx, [db])[db].properties["ingress"] == [SSH, HTTPS]
    assert set(SecurityGroupRuleHandler().read(ctx, [rule_id])) == {rule_id}


def test_a_rule_from_another_group_reads_back_with_its_description(
    clients: Clients, vpc_id: str
) -> None:
    handler = SecurityGroupHandler()
    web = handler.create(context(clients, "WebSg"), group(vpc_id)).physical_id
    rule = {**SSH, "source": web, "description": "ssh from web"}
    ctx = context(clients, "DbSg")
    db = handler.create(ctx, group(vpc_id, ingress=[rule])).physical_id
    assert handler.read(ctx, [db])[db].properties["ingress"] == [rule]


def test_find_does_not_adopt_what_another_lineage_made(clients: Clients, vpc_id: str) -> None:
    """Same stack, path and explicit group name, another state: not found."""
    ctx = context(clients, "WebSg")
    other = attrs.evolve(ctx, lineage="other")
    props = group(vpc_id, group_name="web")
    pid = SecurityGroupHandler().create(ctx, props).physical_id
    assert SecurityGroupHandler().find(other, props) is None
    rule_props = {"group": pid, "rule": SSH, "direction": "ingress"}
    rule_ctx = context(clients, "WebSsh")
    rule = SecurityGroupRuleHandler().create(rule_ctx, rule_props).physical_id
    assert (
        SecurityGroupRuleHandler().find(attrs.evolve(rule_ctx, lineage="other"), rule_props) is None
    )
    found = SecurityGroupRuleHandler().find(rule_ctx, rule_props)
    assert found is not None and found.physical_id == rule


def test_a_rule_creation_refuses_an_equal_rule_another_lineage_made(
    clients: Clients, vpc_id: str
) -> None:
    db = SecurityGroupHandler().create(context(clients, "DbSg"), group(vpc_id)).physical_id
    props = {"group": db, "rule": SSH, "direction": "ingress"}
    ctx = context(clients, "DbSsh")
    SecurityGroupRuleHandler().create(ctx, props)
    with pytest.raises(LookupError, match="created by DbSsh"):
        SecurityGroupRuleHandler().create(attrs.evolve(ctx, lineage="other"), props)


def test_list_stack_leaves_inline_rules_out(clients: Clients, vpc_id: str) -> None:
    groups = SecurityGroupHandler()
    db = groups.create(context(clients, "DbSg"), group(vpc_id, ingress=[HTTPS])).physical_id
    rule = SecurityGroupRuleHandler().create(
        context(clients, "DbSsh"), {"group": db, "rule": SSH, "direction": "ingress"}
    )
    ctx = context(clients, "")
    assert groups.list_stack(ctx) == {db: "DbSg"}
    assert SecurityGroupRuleHandler().list_stack(ctx) == {rule.physical_id: "DbSsh"}
