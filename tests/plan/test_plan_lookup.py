"""Filling looked-up values into documents (pure)."""

from __future__ import annotations

from infradsl.plan.change import Plan
from infradsl.plan.lookup import (
    LookedUp,
    describe_query,
    looked_up,
    lookup_dependencies,
    substitute,
    with_lookups,
)

DOCUMENT = {"stack": "web", "region": "us-east-1"}
SHARED = LookedUp(
    path="Shared",
    type="aws.ec2.Vpc",
    query={"id": "vpc-1"},
    physical_id="vpc-1",
    values={"id": "vpc-1", "cidr_block": "10.0.0.0/16"},
)
OPS = LookedUp(
    path="Ops",
    type="aws.iam.Role",
    query={"name": "ops"},
    physical_id="ops",
    values={"arn": "arn:aws:iam::123456789012:role/ops"},
    stack="net",
)
FOUND = {SHARED.key: SHARED, OPS.key: OPS}


def test_references_to_lookups_become_values_and_others_stay() -> None:
    value = {
        "vpc": {"ref": "Shared.id"},
        "role": {"ref": "Ops.arn", "stack": "net"},
        "own": {"ref": "Shared.id", "stack": "web"},
        "subnet": {"ref": "Subnet.id"},
        "list": [{"ref": "Shared.cidr_block"}, 1],
    }
    assert substitute(value, DOCUMENT, FOUND) == {
        "vpc": "vpc-1",
        "role": "arn:aws:iam::123456789012:role/ops",
        "own": "vpc-1",
        "subnet": {"ref": "Subnet.id"},
        "list": ["10.0.0.0/16", 1],
    }


def test_a_join_of_text_and_looked_up_values_becomes_a_string() -> None:
    joined = {"join": ["vpc=", {"ref": "Shared.id"}, " cidr=", {"ref": "Shared.cidr_block"}]}
    assert substitute(joined, DOCUMENT, FOUND) == "vpc=vpc-1 cidr=10.0.0.0/16"


def test_a_join_that_still_holds_a_reference_keeps_it_with_the_text_merged() -> None:
    joined = {"join": [{"ref": "Shared.id"}, "/", {"ref": "Web.public_ip"}, ""]}
    assert substitute(joined, DOCUMENT, FOUND) == {"join": ["vpc-1/", {"ref": "Web.public_ip"}]}


def test_lookups_that_use_other_lookups_depend_on_them() -> None:
    document = {
        **DOCUMENT,
        "lookups": {
            "A": {"type": "aws.ec2.Subnet", "query": {"vpc": {"ref": "Shared.id"}}},
            "Shared": {"type": "aws.ec2.Vpc", "query": {"default": True}},
            "Ops": {"type": "aws.iam.Role", "query": {"name": "ops"}, "stack": "net"},
            "B": {"type": "aws.ec2.Subnet", "query": {"vpc": {"ref": "Ops.id", "stack": "net"}}},
        },
    }
    assert lookup_dependencies(document) == {
        "A": {"Shared"},
        "Shared": set(),
        "Ops": set(),
        "B": {"Ops"},
    }


def test_queries_are_described_in_words() -> None:
    assert describe_query({"tags": {"b": "2", "a": "1"}, "vpc": "vpc-1", "default": True}) == (
        "default True, tags a=1 b=2, vpc vpc-1"
    )
    assert describe_query({"vpc": {"ref": "Shared.id", "stack": "net"}}) == "vpc net:Shared.id"


def test_a_plan_carries_what_its_resolved_document_looked_up() -> None:
    plan = Plan(stack="web", region="us-east-1", changes=())
    document = {**DOCUMENT, "looked_up": [OPS.to_json(), SHARED.to_json()]}
    assert looked_up(document) == (SHARED, OPS)  # its own first
    assert with_lookups(plan, document).lookups == (SHARED, OPS)
    assert with_lookups(plan, DOCUMENT) is plan
    assert with_lookups(plan, None) is plan
