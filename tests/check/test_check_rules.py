"""Each built-in rule is found on a stack that breaks it and not on one that complies."""

from __future__ import annotations

from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2, iam, s3
from infradsl.check import RULES, Severity, run_checks
from infradsl.synth import synthesize


def network(app: App) -> tuple[Stack, ec2.Vpc, ec2.Subnet]:
    stack = Stack(app, "demo", region="us-east-1")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
    return stack, vpc, subnet


def found(app: App, rule_id: str) -> list[tuple[str, str]]:
    """(path, message) of the findings of one rule."""
    return [(f.path, f.message) for f in run_checks(synthesize(app)) if f.rule_id == rule_id]


def group_with(**kwargs: Any) -> App:
    app = App()
    stack, vpc, _ = network(app)
    ec2.SecurityGroup(stack, "Sg", vpc=vpc, **kwargs)
    return app


def standalone_rule(rule: ec2.Rule, direction: str = "ingress") -> App:
    app = App()
    stack, vpc, _ = network(app)
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc)
    ec2.SecurityGroupRule(stack, "Extra", group=sg, rule=rule, direction=direction)
    return app


def raw_group(**rule: Any) -> dict[str, Any]:
    """A hand-written document, for sources the DSL cannot express yet."""
    entry = {"type": "aws.ec2.SecurityGroup", "properties": {"ingress": [rule]}, "options": {}}
    return {"demo": {"stack": "demo", "resources": {"Sg": entry}, "outputs": {}}}


def test_the_built_in_rules_have_the_documented_ids_and_severities() -> None:
    assert {rule_id: rule.severity for rule_id, rule in RULES.items()} == {
        "SG001": Severity.HIGH,
        "SG002": Severity.HIGH,
        "EC2001": Severity.MEDIUM,
        "EC2002": Severity.MEDIUM,
        "IAM001": Severity.HIGH,
        "SEC001": Severity.CRITICAL,
        "SEC002": Severity.HIGH,
        "SEC003": Severity.CRITICAL,
        "S3001": Severity.MEDIUM,
    }
    for rule in RULES.values():
        assert rule.title and rule.description and rule.fix


# SG001 ------------------------------------------------------------------------------------

def test_ssh_open_to_the_world_in_a_group_is_found_with_the_rule_index() -> None:
    app = group_with(ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0"),
                              ec2.Rule.tcp(22, source="0.0.0.0/0")])
    assert found(app, "SG001") == [("Sg", "ingress[1] opens tcp 22 to 0.0.0.0/0")]


def test_rdp_open_to_the_world_in_a_standalone_rule_is_found() -> None:
    app = standalone_rule(ec2.Rule.tcp(3389, source="0.0.0.0/0"))
    assert found(app, "SG001") == [("Extra", "rule opens tcp 3389 to 0.0.0.0/0")]


def test_a_port_range_covering_ssh_and_rdp_names_both() -> None:
    app = group_with(ingress=[ec2.Rule.tcp(20, 4000, source="0.0.0.0/0")])
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] opens tcp 20-4000 to 0.0.0.0/0, which includes SSH (22) and "
               "RDP (3389)")
    ]


def test_all_traffic_from_the_world_also_counts_as_open_ssh() -> None:
    app = group_with(ingress=[ec2.Rule.all_traffic(source="0.0.0.0/0")])
    assert found(app, "SG001") == [
        ("Sg", "ingress[0] opens all traffic to 0.0.0.0/0, which includes SSH (22) and "
               "RDP (3389)")
    ]


def test_ssh_open_to_every_ipv6_address_is_found() -> None:
    documents = raw_group(protocol="tcp", from_port=22, to_port=22, source="::/0")
    assert [(f.rule_id, f.message) for f in run_checks(documents)] == [
        ("SG001", "ingress[0] opens tcp 22 to ::/0")
    ]


@pytest.mark.parametrize(
    "rule",
    [
        ec2.Rule.tcp(22, source="10.0.0.0/8"),
        ec2.Rule.tcp(443, source="0.0.0.0/0"),
        ec2.Rule.tcp(23, 3388, source="0.0.0.0/0"),
        ec2.Rule.udp(22, source="0.0.0.0/0"),
        ec2.Rule.icmp(source="0.0.0.0/0"),
    ],
    ids=["private source", "https", "range between", "udp", "icmp"],
)
def test_ssh_and_rdp_not_open_to_the_world_are_not_found(rule: ec2.Rule) -> None:
    assert found(group_with(ingress=[rule]), "SG001") == []


def test_ssh_from_another_security_group_is_not_found() -> None:
    app = App()
    stack, vpc, _ = network(app)
    bastion = ec2.SecurityGroup(stack, "Bastion", vpc=vpc)
    ec2.SecurityGroup(stack, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(22, source=bastion)])
    assert found(app, "SG001") == []


def test_egress_to_the_world_on_ssh_is_not_found() -> None:
    app = standalone_rule(ec2.Rule.tcp(22, source="0.0.0.0/0"), direction="egress")
    assert found(app, "SG001") == []
    app = group_with(egress=[ec2.Rule.tcp(22, source="0.0.0.0/0")])
    assert found(app, "SG001") == []


# SG002 ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (ec2.Rule.all_traffic(source="0.0.0.0/0"), "ingress[0] opens all traffic to 0.0.0.0/0"),
        (ec2.Rule.tcp(0, 65535, source="0.0.0.0/0"), "ingress[0] opens tcp 0-65535 to 0.0.0.0/0"),
        (ec2.Rule.udp(0, 65535, source="0.0.0.0/0"), "ingress[0] opens udp 0-65535 to 0.0.0.0/0"),
    ],
    ids=["all traffic", "tcp", "udp"],
)
def test_every_port_open_to_the_world_is_found(rule: ec2.Rule, message: str) -> None:
    assert found(group_with(ingress=[rule]), "SG002") == [("Sg", message)]


def test_every_port_open_in_a_standalone_ingress_rule_is_found() -> None:
    app = standalone_rule(ec2.Rule.all_traffic(source="0.0.0.0/0"))
    assert found(app, "SG002") == [("Extra", "rule opens all traffic to 0.0.0.0/0")]


@pytest.mark.parametrize(
    "app",
    [
        group_with(ingress=[ec2.Rule.tcp(1024, 65535, source="0.0.0.0/0")]),
        group_with(ingress=[ec2.Rule.all_traffic(source="10.0.0.0/16")]),
        group_with(egress=[ec2.Rule.all_traffic(source="0.0.0.0/0")]),
        standalone_rule(ec2.Rule.all_traffic(source="0.0.0.0/0"), direction="egress"),
    ],
    ids=["partial range", "private source", "egress", "standalone egress"],
)
def test_ports_not_all_open_to_the_world_on_ingress_are_not_found(app: App) -> None:
    assert found(app, "SG002") == []


# EC2001, EC2002 ---------------------------------------------------------------------------

def instance_app(**kwargs: Any) -> App:
    app = App()
    stack, _, subnet = network(app)
    ec2.Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet,
                 **kwargs)
    return app


def test_an_instance_without_imdsv2_is_found() -> None:
    assert found(instance_app(require_imdsv2=False), "EC2001") == [
        ("Web", "require_imdsv2 is false: the metadata service also answers IMDSv1 requests")
    ]


def test_an_instance_with_the_default_imdsv2_setting_is_not_found() -> None:
    assert found(instance_app(), "EC2001") == []


def test_an_unencrypted_root_volume_is_found() -> None:
    assert found(instance_app(root_volume_encrypted=False), "EC2002") == [
        ("Web", "root_volume_encrypted is false")
    ]


def test_an_unencrypted_volume_is_found_and_an_encrypted_one_is_not() -> None:
    app = App()
    stack, _, _ = network(app)
    ec2.Volume(stack, "Plain", availability_zone="us-east-1a", size=10, encrypted=False)
    ec2.Volume(stack, "Safe", availability_zone="us-east-1a", size=10)
    assert found(app, "EC2002") == [("Plain", "encrypted is false")]


def test_an_instance_with_default_volume_encryption_is_not_found() -> None:
    assert found(instance_app(), "EC2002") == []


# IAM001 -----------------------------------------------------------------------------------

def policy_app(*statements: iam.Statement, managed: list[str] | None = None) -> App:
    app = App()
    stack = Stack(app, "demo")
    role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com",
                    managed_policies=managed or [])
    if statements:
        iam.Policy(stack, "P", statements=list(statements), roles=[role])
    return app


def test_a_policy_allowing_every_action_on_every_resource_is_found() -> None:
    app = policy_app(iam.Statement(actions=["s3:GetObject"], resources=["*"]),
                     iam.Statement(actions=["*"], resources=["*"]))
    assert found(app, "IAM001") == [("P", "statements[1] allows action '*' on resource '*'")]


def test_a_star_colon_star_action_is_found() -> None:
    statement = {"actions": ["*:*"], "resources": ["*"], "effect": "Allow"}
    entry = {"type": "aws.iam.Policy", "properties": {"statements": [statement]}}
    documents = {"demo": {"resources": {"P": entry}}}
    assert [(f.rule_id, f.message) for f in run_checks(documents)] == [
        ("IAM001", "statements[0] allows action '*:*' on resource '*'")
    ]


def test_the_administrator_access_managed_policy_is_found() -> None:
    app = policy_app(managed=["arn:aws:iam::aws:policy/ReadOnlyAccess",
                              "arn:aws:iam::aws:policy/AdministratorAccess"])
    assert found(app, "IAM001") == [("Role", "managed_policies[1] attaches AdministratorAccess")]


@pytest.mark.parametrize(
    "statement",
    [
        iam.Statement(actions=["*"], resources=["*"], effect="Deny"),
        iam.Statement(actions=["*"], resources=["arn:aws:s3:::logs/*"]),
        iam.Statement(actions=["s3:*"], resources=["*"]),
    ],
    ids=["deny", "one resource", "one service"],
)
def test_statements_short_of_full_admin_are_not_found(statement: iam.Statement) -> None:
    assert found(policy_app(statement), "IAM001") == []


# S3001 ------------------------------------------------------------------------------------

def test_a_bucket_without_public_access_block_is_found_and_a_default_one_is_not() -> None:
    app = App()
    stack = Stack(app, "demo")
    s3.Bucket(stack, "Open", block_public_access=False)
    s3.Bucket(stack, "Private")
    assert found(app, "S3001") == [("Open", "block_public_access is false")]
