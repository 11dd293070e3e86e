"""The synthesized document: references, joins, options, outputs and cross-stack refs."""

from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2, iam, s3, secrets
from infradsl.synth import synthesize, synthesize_stack


def make_stack() -> tuple[App, Stack]:
    app = App()
    return app, Stack(app, "demo", region="eu-west-1")


def test_a_resource_passed_as_a_value_becomes_a_reference_to_its_id() -> None:
    _, stack = make_stack()
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    doc = synthesize_stack(stack)
    entry = doc["resources"]["Sub"]
    assert entry["properties"]["vpc"] == {"ref": "Vpc.id"}
    assert entry["depends_on"] == ["Vpc"]
    assert entry["type"] == "aws.ec2.Subnet"


def test_references_inside_f_strings_become_joins() -> None:
    _, stack = make_stack()
    secret = secrets.Secret(stack, "Pw", generate=secrets.Generate())
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    sub = ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    ec2.Instance(
        stack,
        "Web",
        image="ami-12345678",
        instance_type="t3.micro",
        subnet=sub,
        user_data=f"#!/bin/sh\nfetch {secret.arn} in {vpc.id}\n",
    )
    props = synthesize_stack(stack)["resources"]["Web"]["properties"]
    assert props["user_data"] == {
        "join": ["#!/bin/sh\nfetch ", {"ref": "Pw.arn"}, " in ", {"ref": "Vpc.id"}, "\n"]
    }
    assert synthesize_stack(stack)["resources"]["Web"]["depends_on"] == ["Pw", "Sub", "Vpc"]


def test_a_string_that_is_only_a_reference_becomes_a_plain_reference() -> None:
    _, stack = make_stack()
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    Output(stack, "Id", f"{vpc.id}")
    Output(stack, "Concat", "vpc:" + vpc.id)
    outputs = synthesize_stack(stack)["outputs"]
    assert outputs == {"Id": {"ref": "Vpc.id"}, "Concat": {"join": ["vpc:", {"ref": "Vpc.id"}]}}


def test_only_options_that_were_set_are_synthesized() -> None:
    _, stack = make_stack()
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        cidr_block="10.0.0.0/16",
        protect=True,
        ignore_changes=["tags"],
        aliases=["Old/Vpc"],
    )
    ec2.Vpc(
        stack,
        "Plain",
        cidr_block="10.1.0.0/16",
        depends_on=[vpc],
        retain_on_delete=True,
        delete_before_replace=True,
        replace_on_changes=["enable_dns_support"],
    )
    resources = synthesize_stack(stack)["resources"]
    assert resources["Vpc"]["options"] == {
        "protect": True,
        "ignore_changes": ["tags"],
        "aliases": ["Old/Vpc"],
    }
    assert resources["Plain"]["options"] == {
        "retain_on_delete": True,
        "delete_before_replace": True,
        "replace_on_changes": ["enable_dns_support"],
    }
    assert resources["Plain"]["depends_on"] == ["Vpc"]


def test_depends_on_a_component_depends_on_every_resource_inside_it() -> None:
    _, stack = make_stack()
    net = Construct(stack, "Net")
    ec2.Vpc(net, "A", cidr_block="10.0.0.0/16")
    ec2.Vpc(net, "B", cidr_block="10.1.0.0/16")
    s3.Bucket(stack, "Logs", depends_on=[net])
    assert synthesize_stack(stack)["resources"]["Logs"]["depends_on"] == ["Net/A", "Net/B"]


def test_acknowledgements_are_inherited_and_synthesized_as_options() -> None:
    _, stack = make_stack()
    net = Construct(stack, "Net")
    net.node.acknowledge("SG001", reason="bastion network, SSH is the point")
    vpc = ec2.Vpc(net, "Vpc", cidr_block="10.0.0.0/16")
    vpc.node.acknowledge("EC2001", reason="legacy agent needs IMDSv1")
    options = synthesize_stack(stack)["resources"]["Net/Vpc"]["options"]
    assert options == {
        "acknowledged": {
            "EC2001": "legacy agent needs IMDSv1",
            "SG001": "bastion network, SSH is the point",
        }
    }


def test_stack_tags_are_merged_into_each_resource_and_resource_tags_win() -> None:
    app = App()
    stack = Stack(app, "demo", tags={"team": "platform", "env": "prod"})
    s3.Bucket(stack, "Logs", tags={"env": "staging"})
    tags = synthesize_stack(stack)["resources"]["Logs"]["properties"]["tags"]
    assert tags == {"team": "platform", "env": "staging"}


def test_references_across_stacks_name_the_producer_stack() -> None:
    app = App()
    network = Stack(app, "network")
    vpc = ec2.Vpc(network, "Vpc", cidr_block="10.0.0.0/16")
    web = Stack(app, "web")
    ec2.Subnet(web, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    docs = synthesize(app)
    entry = docs["web"]["resources"]["Sub"]
    assert entry["properties"]["vpc"] == {"ref": "Vpc.id", "stack": "network"}
    assert entry["depends_on"] == [], "cross-stack edges are between stacks, not resources"


def test_stacks_that_read_from_each_other_are_reported() -> None:
    import pytest

    from infradsl.errors import ValidationError

    app = App()
    one, two = Stack(app, "one"), Stack(app, "two")
    a = ec2.ElasticIp(one, "A")
    ec2.ElasticIp(two, "B", tags={"peer": a.public_ip})
    b = two.node.find_child("B")
    one_b = ec2.ElasticIp(one, "C", tags={"peer": b.public_ip})  # type: ignore[attr-defined]
    assert one_b is not None
    with pytest.raises(ValidationError, match="stacks depend on each other: one -> two -> one"):
        synthesize(app)


def test_an_instance_with_a_role_gets_an_implicit_instance_profile() -> None:
    _, stack = make_stack()
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    sub = ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
    ec2.Instance(stack, "A", image="ami-12345678", instance_type="t3.micro", subnet=sub, role=role)
    ec2.Instance(stack, "B", image="ami-12345678", instance_type="t3.micro", subnet=sub, role=role)
    resources: dict[str, Any] = synthesize_stack(stack)["resources"]
    profiles = [p for p, e in resources.items() if e["type"] == "aws.iam.InstanceProfile"]
    assert profiles == ["Role/Profile"]
    assert resources["A"]["properties"]["instance_profile"] == {"ref": "Role/Profile.id"}
    assert resources["Role/Profile"]["properties"]["role"] == {"ref": "Role.id"}


def test_grant_read_gives_the_role_a_policy_on_the_secret_arn() -> None:
    _, stack = make_stack()
    role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
    secret = secrets.Secret(stack, "Pw", generate=secrets.Generate(length=40))
    secret.grant_read(role)
    resources = synthesize_stack(stack)["resources"]
    policy = resources["Role/DefaultPolicy"]
    assert policy["properties"]["statements"] == [
        {
            "actions": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "effect": "Allow",
            "resources": [{"ref": "Pw.arn"}],
        }
    ]
    assert policy["depends_on"] == ["Pw", "Role"]
    assert "value" not in resources["Pw"]["properties"]


def test_a_public_nat_gateway_gets_an_elastic_ip_of_its_own() -> None:
    _, stack = make_stack()
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    sub = ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    ec2.NatGateway(stack, "Nat", subnet=sub)
    resources = synthesize_stack(stack)["resources"]
    assert resources["Nat/Eip"]["type"] == "aws.ec2.ElasticIp"
    assert resources["Nat"]["properties"]["elastic_ip"] == {"ref": "Nat/Eip.id"}


def test_secret_values_from_the_environment_are_synthesized_by_name_only() -> None:
    _, stack = make_stack()
    secrets.Secret(stack, "Token", value=secrets.SecretValue.env("API_TOKEN"))
    props = synthesize_stack(stack)["resources"]["Token"]["properties"]
    assert props["value"] == {"env_var": "API_TOKEN"}
