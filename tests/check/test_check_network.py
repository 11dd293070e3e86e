"""SG001 and SG002 reason about normalised addresses, port ranges and the union of rules."""

from __future__ import annotations

from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.check import run_checks
from infradsl.synth import synthesize


def found(app: App | dict[str, Any], rule_id: str) -> list[tuple[str, str]]:
    """(path, message) of the findings of one rule."""
    documents = synthesize(app) if isinstance(app, App) else app
    return [(f.path, f.message) for f in run_checks(documents) if f.rule_id == rule_id]


def group_with(*ingress: ec2.Rule, standalone: tuple[ec2.Rule, ...] = (),
               egress: tuple[ec2.Rule, ...] = ()) -> App:
    """A group "Sg" with inline ingress rules, standalone rules "Extra0"... and egress."""
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc, ingress=list(ingress),
                           egress=list(egress) or None)
    for index, rule in enumerate(standalone):
        ec2.SecurityGroupRule(stack, f"Extra{index}", group=sg, rule=rule)
    return app


def raw(resources: dict[str, Any]) -> dict[str, Any]:
    """A hand-written document, for what the DSL refuses or cannot express."""
    return {"demo": {"stack": "demo", "resources": resources, "outputs": {}}}


def raw_group(**rule: Any) -> dict[str, Any]:
    entry = {"type": "aws.ec2.SecurityGroup", "properties": {"ingress": [rule]}, "options": {}}
    return raw({"Sg": entry})


# Normalised addresses ---------------------------------------------------------------------

@pytest.mark.parametrize("source", ["0::/0", "::0/0", "0000::/0", "0:0:0:0:0:0:0:0/0", "::/000"])
def test_ssh_open_to_every_ipv6_address_written_unusually_is_found(source: str) -> None:
    app = group_with(ec2.Rule.tcp(22, source=source))
    assert found(app, "SG001") == [
        ("Sg", f"ingress[0] opens tcp 22 to {source} (every IPv6 address)")
    ]


@pytest.mark.parametrize("source", ["0.0.0.0/00", "0.0.0.0/0.0.0.0"])
def test_ssh_open_to_every_ipv4_address_written_unusually_is_found(source: str) -> None:
    app = group_with(ec2.Rule.tcp(22, source=source))
    assert found(app, "SG001") == [
        ("Sg", f"ingress[0] opens tcp 22 to {source} (every IPv4 address)")
    ]


def test_a_world_source_with_host_bits_set_is_found() -> None:
    documents = raw_group(protocol="tcp", from_port=3389, to_port=3389, source="10.1.2.3/0")
    assert found(documents, "SG001") == [
        ("Sg", "ingress[0] opens tcp 3389 to 10.1.2.3/0 (every IPv4 address)")
    ]


def test_all_traffic_open_to_ipv6_written_unusually_is_found() -> None:
    app = group_with(ec2.Rule.all_traffic(source="::0/0"))
    assert found(app, "SG002") == [
        ("Sg", "ingress[0] opens all traffic to ::0/0 (every IPv6 address)")
    ]


# Several sources that add up to every address ---------------------------------------------

def test_two_halves_of_the_ipv4_space_on_ssh_are_found_as_the_world() -> None:
    app = group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                     ec2.Rule.tcp(22, source="128.0.0.0/1"))
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] (tcp 22 from 0.0.0.0/1) and ingress[1] (tcp 22 from 128.0.0.0/1) "
               "together open SSH (22) to every IPv4 address")
    ]


def test_two_halves_of_the_ipv6_space_on_rdp_are_found_as_the_world() -> None:
    app = group_with(ec2.Rule.tcp(3389, source="::/1"),
                     ec2.Rule.tcp(3389, source="8000::/1"))
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] (tcp 3389 from ::/1) and ingress[1] (tcp 3389 from 8000::/1) "
               "together open RDP (3389) to every IPv6 address")
    ]


def test_halves_split_between_a_group_and_its_standalone_rule_are_found_on_the_group() -> None:
    app = group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                     standalone=(ec2.Rule.tcp(22, source="128.0.0.0/1"),))
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] (tcp 22 from 0.0.0.0/1) and SecurityGroupRule 'Extra0' (tcp 22 "
               "from 128.0.0.0/1) together open SSH (22) to every IPv4 address")
    ]


def test_halves_in_two_standalone_rules_are_found_on_their_group() -> None:
    app = group_with(standalone=(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                                 ec2.Rule.tcp(22, source="128.0.0.0/1")))
    assert found(app, "SG001") == [
        ("Sg", "SecurityGroupRule 'Extra0' (tcp 22 from 0.0.0.0/1) and SecurityGroupRule "
               "'Extra1' (tcp 22 from 128.0.0.0/1) together open SSH (22) to every IPv4 address")
    ]


def test_standalone_halves_of_a_group_in_another_stack_are_found_on_the_first_rule() -> None:
    group = {"ref": "Sg.id", "stack": "network"}

    def rule(source: str) -> dict[str, Any]:
        return {"type": "aws.ec2.SecurityGroupRule", "options": {}, "properties": {
            "group": group, "direction": "ingress",
            "rule": {"protocol": "tcp", "from_port": 22, "to_port": 22, "source": source}}}

    documents = raw({"A": rule("0.0.0.0/1"), "B": rule("128.0.0.0/1")})
    assert found(documents, "SG001") == [
        ("A", "SecurityGroupRule 'A' (tcp 22 from 0.0.0.0/1) and SecurityGroupRule 'B' "
              "(tcp 22 from 128.0.0.0/1) together open SSH (22) to every IPv4 address")
    ]


def test_only_the_rules_needed_to_cover_every_address_are_named() -> None:
    app = group_with(ec2.Rule.tcp(1, 65535, source="0.0.0.0/1"),
                     ec2.Rule.tcp(22, source="10.0.0.0/8"),
                     ec2.Rule.tcp(22, source="128.0.0.0/2"),
                     ec2.Rule.tcp(20, 30, source="192.0.0.0/2"))
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] (tcp 1-65535 from 0.0.0.0/1), ingress[2] (tcp 22 from 128.0.0.0/2) "
               "and ingress[3] (tcp 20-30 from 192.0.0.0/2) together open SSH (22) to every "
               "IPv4 address")
    ]


@pytest.mark.parametrize(
    "app",
    [
        group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                   ec2.Rule.tcp(3389, source="128.0.0.0/1")),
        group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                   ec2.Rule.tcp(22, source="128.0.0.0/2")),
        group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                   ec2.Rule.udp(22, source="128.0.0.0/1")),
        group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                   egress=(ec2.Rule.tcp(22, source="128.0.0.0/1"),)),
        group_with(ec2.Rule.tcp(22, source="0.0.0.0/1"),
                   ec2.Rule.tcp(22, source="::/1")),
    ],
    ids=["different ports", "a quarter missing", "other protocol", "egress", "mixed families"],
)
def test_sources_that_do_not_add_up_to_every_address_are_not_found(app: App) -> None:
    assert found(app, "SG001") == []
    assert found(app, "SG002") == []


def test_halves_in_two_different_groups_are_not_found() -> None:
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    ec2.SecurityGroup(stack, "A", vpc=vpc, ingress=[ec2.Rule.tcp(22, source="0.0.0.0/1")])
    ec2.SecurityGroup(stack, "B", vpc=vpc, ingress=[ec2.Rule.tcp(22, source="128.0.0.0/1")])
    assert found(app, "SG001") == []


# Port ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("rule", "opened"),
    [
        (ec2.Rule.tcp(1, 65535, source="0.0.0.0/0"), "tcp 1-65535"),
        (ec2.Rule.udp(1, 65535, source="0.0.0.0/0"), "udp 1-65535"),
        (ec2.Rule.tcp(0, 65535, source="0.0.0.0/0"), "tcp 0-65535"),
    ],
    ids=["tcp 1-65535", "udp 1-65535", "tcp 0-65535"],
)
def test_every_usable_port_open_to_the_world_is_found(rule: ec2.Rule, opened: str) -> None:
    assert found(group_with(rule), "SG002") == [("Sg", f"ingress[0] opens {opened} to 0.0.0.0/0")]


def test_a_tcp_range_of_every_port_also_counts_as_open_ssh_and_rdp() -> None:
    app = group_with(ec2.Rule.tcp(1, 65535, source="0.0.0.0/0"))
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] opens tcp 1-65535 to 0.0.0.0/0, which includes SSH (22) and "
               "RDP (3389)")
    ]


def test_protocol_minus_one_from_the_world_is_all_traffic() -> None:
    documents = raw_group(protocol="-1", from_port=0, to_port=0, source="0.0.0.0/0")
    assert found(documents, "SG002") == [("Sg", "ingress[0] opens all traffic to 0.0.0.0/0")]


def test_port_ranges_that_add_up_to_every_port_are_found() -> None:
    app = group_with(ec2.Rule.tcp(1, 30000, source="0.0.0.0/0"),
                     ec2.Rule.tcp(30001, 65535, source="0.0.0.0/0"))
    assert found(app, "SG002") == [
        ("Sg", "ingress[0] (tcp 1-30000 from 0.0.0.0/0) and ingress[1] (tcp 30001-65535 from "
               "0.0.0.0/0) together open every tcp port to every IPv4 address")
    ]


def test_every_port_from_two_halves_of_the_address_space_is_found() -> None:
    app = group_with(ec2.Rule.tcp(1, 65535, source="0.0.0.0/1"),
                     ec2.Rule.tcp(1, 65535, source="128.0.0.0/1"))
    assert found(app, "SG002") == [
        ("Sg", "ingress[0] (tcp 1-65535 from 0.0.0.0/1) and ingress[1] (tcp 1-65535 from "
               "128.0.0.0/1) together open every tcp port to every IPv4 address")
    ]
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] (tcp 1-65535 from 0.0.0.0/1) and ingress[1] (tcp 1-65535 from "
               "128.0.0.0/1) together open SSH (22) and RDP (3389) to every IPv4 address")
    ]


def test_all_traffic_from_two_halves_of_the_address_space_is_found_once() -> None:
    app = group_with(ec2.Rule.all_traffic(source="0.0.0.0/1"),
                     standalone=(ec2.Rule.all_traffic(source="128.0.0.0/1"),))
    assert found(app, "SG002") == [
        ("Sg", "ingress[0] (all traffic from 0.0.0.0/1) and SecurityGroupRule 'Extra0' (all "
               "traffic from 128.0.0.0/1) together open all traffic to every IPv4 address")
    ]


@pytest.mark.parametrize(
    "app",
    [
        group_with(ec2.Rule.tcp(1, 30000, source="0.0.0.0/0"),
                   ec2.Rule.tcp(30002, 65535, source="0.0.0.0/0")),
        group_with(ec2.Rule.tcp(2, 65535, source="0.0.0.0/0")),
        group_with(ec2.Rule.tcp(1, 40000, source="0.0.0.0/1"),
                   ec2.Rule.tcp(30000, 65535, source="128.0.0.0/1")),
        group_with(ec2.Rule.tcp(1, 30000, source="0.0.0.0/0"),
                   ec2.Rule.udp(30001, 65535, source="0.0.0.0/0")),
    ],
    ids=["a gap", "port 1 closed", "halves on different ports", "tcp and udp halves"],
)
def test_port_ranges_short_of_every_port_are_not_found(app: App) -> None:
    assert found(app, "SG002") == []
