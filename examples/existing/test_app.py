"""Unit tests for the lookups example, written the way a user tests their own stacks.

They run in milliseconds: no cloud, no network, no boto3. The lookups are resolved when
planning; here they are queries and references.
"""

from __future__ import annotations

import pytest

from infradsl import App
from infradsl.aws import ec2, iam
from infradsl.testing import Match, Template

from .app import Worker


@pytest.fixture
def template() -> Template:
    return Template.from_stack(Worker(App(), "test", region="eu-west-1"))


def test_the_shared_vpc_and_the_ops_role_are_looked_up_not_created(template: Template) -> None:
    template.resource_count_is(ec2.Vpc, 0)
    template.resource_count_is(iam.Role, 0)
    assert sorted(template.find_lookups()) == ["Ops", "Shared"]
    assert list(template.find_lookups(ec2.Vpc, {"tags": {"Name": "shared"}})) == ["Shared"]
    assert list(template.find_lookups(iam.Role, {"name": "ops-role"})) == ["Ops"]


def test_the_new_subnet_and_group_go_into_the_shared_vpc(template: Template) -> None:
    template.has_resource_properties(
        ec2.Subnet, {"vpc": Match.ref("Shared"), "availability_zone": "eu-west-1a"}
    )
    template.has_resource_properties(
        ec2.SecurityGroup,
        {
            "vpc": Match.ref("Shared"),
            "ingress": [Match.object_like({"source": Match.ref("Shared", "cidr_block")})],
        },
    )


def test_the_worker_assumes_the_ops_role_through_a_new_instance_profile(template: Template) -> None:
    template.has_resource_properties(iam.InstanceProfile, {"role": Match.ref("Ops")})
    template.has_resource_properties(ec2.Instance, {"role": Match.ref("Ops")})
    template.deploys_before("Ops/Profile", "Worker")
