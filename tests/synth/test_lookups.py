"""The ``lookups`` section of a synthesized document."""

from __future__ import annotations

import pytest

from infradsl import App, Output, Stack, ValidationError
from infradsl.aws import ec2, iam
from infradsl.synth import dumps, synthesize


def test_a_lookup_is_written_to_the_lookups_section_and_referred_to_like_a_resource() -> None:
    app = App()
    stack = Stack(app, "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", tags={"Name": "shared"})
    ec2.Subnet(stack, "App", vpc=shared, cidr_block="10.0.9.0/24", depends_on=[shared])
    Output(stack, "Range", f"{shared.cidr_block} in {shared.id}")
    document = synthesize(app)["demo"]
    assert document["lookups"] == {
        "Shared": {"type": "aws.ec2.Vpc", "query": {"tags": {"Name": "shared"}}},
    }
    assert document["resources"]["App"] == {
        "type": "aws.ec2.Subnet",
        "properties": {
            "vpc": {"ref": "Shared.id"},
            "cidr_block": "10.0.9.0/24",
            "map_public_ip_on_launch": False,
            "tags": {},
        },
        # Resolved before anything deploys: no edge, even with an explicit depends_on.
        "depends_on": [],
        "options": {},
    }
    assert document["outputs"] == {
        "Range": {"join": [{"ref": "Shared.cidr_block"}, " in ", {"ref": "Shared.id"}]}
    }


def test_a_document_without_lookups_has_no_lookups_key() -> None:
    app = App()
    ec2.Vpc(Stack(app, "demo"), "Vpc", cidr_block="10.0.0.0/16")
    assert "lookups" not in synthesize(app)["demo"]


def test_every_lookup_declared_is_written_even_when_unused() -> None:
    app = App()
    stack = Stack(app, "demo")
    iam.Role.lookup(stack, "Ops", arn="arn:aws:iam::123456789012:role/ops")
    ec2.SecurityGroup.lookup(stack, "Bastion", name="bastion", vpc="vpc-0abc")
    lookups = synthesize(app)["demo"]["lookups"]
    assert lookups == {
        "Ops": {"type": "aws.iam.Role", "query": {"arn": "arn:aws:iam::123456789012:role/ops"}},
        "Bastion": {
            "type": "aws.ec2.SecurityGroup",
            "query": {"name": "bastion", "vpc": "vpc-0abc"},
        },
    }


def test_the_implicit_vpc_of_a_looked_up_subnet_is_written_only_when_used() -> None:
    app = App()
    stack = Stack(app, "demo")
    unused = ec2.Subnet.lookup(stack, "Unused", id="subnet-0abc")
    used = ec2.Subnet.lookup(stack, "Used", tags={"Name": "private-a"})
    ec2.SecurityGroup(stack, "Sg", vpc=used.vpc)
    document = synthesize(app)["demo"]
    assert unused.vpc.node.path == "demo/Unused/Vpc"
    assert document["lookups"] == {
        "Unused": {"type": "aws.ec2.Subnet", "query": {"id": "subnet-0abc"}},
        "Used": {"type": "aws.ec2.Subnet", "query": {"tags": {"Name": "private-a"}}},
        "Used/Vpc": {"type": "aws.ec2.Vpc", "query": {"id": {"ref": "Used.vpc"}}},
    }
    assert document["resources"]["Sg"]["properties"]["vpc"] == {"ref": "Used/Vpc.id"}


def test_a_query_may_use_another_lookup() -> None:
    app = App()
    stack = Stack(app, "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", default=True)
    ec2.Subnet.lookup(stack, "A", vpc=shared, availability_zone="us-east-1a")
    assert synthesize(app)["demo"]["lookups"]["A"] == {
        "type": "aws.ec2.Subnet",
        "query": {"vpc": {"ref": "Shared.id"}, "availability_zone": "us-east-1a"},
    }


def test_another_stacks_lookup_is_written_where_it_is_used_with_its_stack_and_region() -> None:
    app = App()
    network = Stack(app, "net", region="eu-west-1")
    ops = iam.Role.lookup(network, "Ops", name="ops-role")
    shared = ec2.Vpc.lookup(network, "Shared", id="vpc-0abc")
    web = Stack(app, "web", region="eu-west-1")
    ec2.SecurityGroup(web, "Sg", vpc=shared)
    jobs = Stack(app, "jobs", region="us-east-1")
    Output(jobs, "OpsArn", ops.arn)
    documents = synthesize(app)
    assert documents["web"]["lookups"] == {
        "Shared": {"type": "aws.ec2.Vpc", "query": {"id": "vpc-0abc"}, "stack": "net"}
    }
    assert documents["web"]["resources"]["Sg"]["properties"]["vpc"] == {
        "ref": "Shared.id",
        "stack": "net",
    }
    assert documents["jobs"]["lookups"] == {
        "Ops": {
            "type": "aws.iam.Role",
            "query": {"name": "ops-role"},
            "stack": "net",
            "region": "eu-west-1",
        }
    }


def test_a_lookup_of_another_stack_whose_path_is_taken_here_is_reported() -> None:
    app = App()
    shared = ec2.Vpc.lookup(Stack(app, "net"), "Vpc", id="vpc-0abc")
    web = Stack(app, "web")
    ec2.Vpc(web, "Vpc", cidr_block="10.1.0.0/16")
    ec2.SecurityGroup(web, "Sg", vpc=shared)
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    assert [f"{p.path}: {p.message}" for p in info.value.problems] == [
        "net/Vpc: stack 'web' refers to this lookup, whose path 'Vpc' is also the path of "
        "another resource or lookup it uses; rename one"
    ]


def test_documents_with_lookups_are_canonical() -> None:
    def build() -> str:
        app = App()
        stack = Stack(app, "demo")
        shared = ec2.Vpc.lookup(
            stack, "Shared", tags={"b": "2", "a": "1"}, cidr_block="10.0.0.0/16"
        )
        ec2.Subnet(stack, "App", vpc=shared, cidr_block="10.0.9.0/24")
        return dumps(synthesize(app)["demo"])

    text = build()
    assert text == build()
    assert '"lookups": {\n    "Shared": {\n      "query": {\n        "cidr_block"' in text
