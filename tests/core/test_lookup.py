"""Lookups of existing resources: typed like managed ones, their criteria checked at synth."""

from __future__ import annotations

import pytest

from infradsl import App, Construct, Output, Reference, Stack, ValidationError
from infradsl.aws import ec2, iam
from infradsl.core.lookup import is_lookup, lookup_of
from infradsl.synth import synthesize


def messages(app: App) -> list[str]:
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_a_looked_up_vpc_is_a_vpc_whose_attributes_and_properties_are_references() -> None:
    stack = Stack(App(), "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", tags={"Name": "shared"})
    assert isinstance(shared, ec2.Vpc)
    assert is_lookup(shared)
    for value in (shared.id, shared.arn, shared.cidr_block, shared.tags):
        assert isinstance(value, Reference) and value.target is shared
    assert repr(shared.cidr_block) == "Reference(Shared.cidr_block)"
    assert lookup_of(shared) is not None and lookup_of(shared).query == {"tags": {"Name": "shared"}}


def test_a_looked_up_vpc_is_accepted_wherever_a_vpc_is_and_its_subnets_are_validated() -> None:
    app = App()
    stack = Stack(app, "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", id="vpc-0123456789abcdef0")
    a = ec2.Subnet(stack, "A", vpc=shared, cidr_block="10.0.1.0/24")
    ec2.Subnet(stack, "B", vpc=shared, cidr_block="10.0.1.128/25")
    ec2.SecurityGroup(stack, "Sg", vpc=shared)
    assert a.vpc is shared
    # The VPC's range is unknown until the plan, but siblings still must not overlap.
    assert messages(app) == [
        "demo/B: 'cidr_block' 10.0.1.128/25 overlaps subnet 'A' (10.0.1.0/24) in the same VPC"
    ]


def test_lookups_are_not_resources_of_the_stack() -> None:
    stack = Stack(App(), "demo")
    ec2.Vpc.lookup(stack, "Shared", default=True)
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    assert stack.resources() == [vpc]


def test_a_looked_up_subnet_has_a_looked_up_vpc_to_pass_on() -> None:
    stack = Stack(App(), "demo")
    private = ec2.Subnet.lookup(stack, "Private", tags={"tier": "private"})
    assert isinstance(private.vpc, ec2.Vpc) and is_lookup(private.vpc)
    assert private.vpc.node.path == "demo/Private/Vpc"
    found = lookup_of(private.vpc)
    assert found is not None and found.implicit
    assert repr(found.query["id"]) == "Reference(Private.vpc)"
    # Passed on like any VPC.
    group = ec2.SecurityGroup(stack, "Sg", vpc=private.vpc)
    assert group.vpc is private.vpc


def test_a_subnet_looked_up_in_a_looked_up_vpc_keeps_that_vpc() -> None:
    stack = Stack(App(), "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", tags={"Name": "shared"})
    subnet = ec2.Subnet.lookup(stack, "A", vpc=shared, availability_zone="us-east-1a")
    group = ec2.SecurityGroup.lookup(stack, "Bastion", vpc=shared, name="bastion")
    assert subnet.vpc is shared and group.vpc is shared
    assert subnet.node.try_find_child("Vpc") is None


def test_a_looked_up_role_gets_an_instance_profile_and_a_policy_of_its_own() -> None:
    stack = Stack(App(), "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "A", vpc=vpc, cidr_block="10.0.1.0/24")
    ops = iam.Role.lookup(stack, "Ops", name="ops-role")
    web = ec2.Instance(
        stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet, role=ops
    )
    policy = ops.add_to_policy(iam.Statement(actions=["s3:GetObject"], resources=["*"]))
    assert isinstance(web.instance_profile, iam.InstanceProfile)
    assert web.instance_profile.node.path == "demo/Ops/Profile"
    assert not is_lookup(web.instance_profile) and not is_lookup(policy)
    assert policy.roles == [ops]


def test_a_lookup_needs_at_least_one_criterion() -> None:
    app = App()
    stack = Stack(app, "demo")
    ec2.Vpc.lookup(stack, "Nothing")
    iam.Role.lookup(stack, "Nobody")
    assert messages(app) == [
        "demo/Nothing: Vpc.lookup('Nothing') needs a query: pass id= or tags= or cidr_block= "
        "or default=",
        "demo/Nobody: Role.lookup('Nobody') needs a query: pass name= or arn=",
    ]


def test_criteria_are_checked_with_the_users_line() -> None:
    app = App()
    stack = Stack(app, "demo")
    ec2.Vpc.lookup(stack, "A", id="subnet-123")
    ec2.Vpc.lookup(stack, "B", tags={})
    ec2.Subnet.lookup(stack, "C", cidr_block="10.0.0.1/24")
    ec2.SecurityGroup.lookup(stack, "D", id=42)  # type: ignore[arg-type]
    iam.Role.lookup(stack, "E", arn="ops")
    ec2.Vpc.lookup(stack, "F", default="yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    found = {p.path: (p.message, p.location) for p in info.value.problems}
    assert found["demo/A"][0] == "'id' must look like vpc-0123456789abcdef0 (got 'subnet-123')"
    assert found["demo/A"][1].startswith("tests/core/test_lookup.py:")
    assert found["demo/B"][0] == "'tags' must be a non-empty dict of tag key to value (got {})"
    assert found["demo/C"][0] == (
        "'cidr_block' must be a CIDR like 10.0.0.0/16 (got '10.0.0.1/24'); did you mean "
        "'10.0.0.0/24'?"
    )
    assert found["demo/D"][0] == "'id' must be a str like sg-0123456789abcdef0 (got int 42)"
    assert found["demo/E"][0] == (
        "'arn' must look like arn:aws:iam::123456789012:role/ops (got 'ops')"
    )
    assert found["demo/F"][0] == "'default' must be True or False (got 'yes')"


def test_a_query_cannot_use_a_resource_infradsl_creates() -> None:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    ec2.Subnet.lookup(stack, "A", vpc=vpc, tags={"Name": "a"})
    ec2.SecurityGroup.lookup(stack, "B", vpc=vpc.id)  # type: ignore[arg-type]
    assert messages(app) == [
        "demo/A: 'vpc' is aws.ec2.Vpc 'Vpc', a resource infradsl creates: lookups are resolved "
        "when planning, before anything is deployed, so a query can use literal values and "
        "other lookups only",
        "demo/B: 'vpc' refers to aws.ec2.Vpc 'Vpc', a resource infradsl creates: lookups are "
        "resolved when planning, before anything is deployed, so a query can use literal "
        "values and other lookups only",
    ]


def test_a_lookup_outside_a_stack_is_reported() -> None:
    app = App()
    Stack(app, "demo")
    ec2.Vpc.lookup(Construct(app, "Loose"), "Shared", id="vpc-1")
    assert messages(app) == [
        "Loose/Shared: Vpc.lookup('Shared') is not inside a Stack: look resources up in a "
        "Stack (or in a component inside one)"
    ]


def test_outputs_may_show_looked_up_values() -> None:
    app = App()
    stack = Stack(app, "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", id="vpc-1")
    Output(stack, "SharedCidr", shared.cidr_block)
    assert synthesize(app)["demo"]["outputs"] == {"SharedCidr": {"ref": "Shared.cidr_block"}}
