"""Unit tests for the webapp stack, written the way a user tests their own stacks.

They run in milliseconds: no cloud, no network, no boto3.
"""

from __future__ import annotations

import pytest
from app import WebApp

from infradsl import App
from infradsl.aws import ec2, iam, secrets
from infradsl.testing import Capture, Match, Template


@pytest.fixture
def template() -> Template:
    return Template.from_stack(WebApp(App(), "test", region="eu-west-1"))


def test_the_network_spans_two_zones_with_public_and_private_subnets(template: Template) -> None:
    template.resource_count_is(ec2.Vpc, 1)
    template.resource_count_is(ec2.Subnet, 4)
    public = template.find_resources(ec2.Subnet, {"properties": {"map_public_ip_on_launch": True}})
    assert sorted(public) == ["Net/PublicA", "Net/PublicB"]
    zones = {
        entry["properties"]["availability_zone"]
        for entry in template.find_resources(ec2.Subnet).values()
    }
    assert zones == {"eu-west-1a", "eu-west-1b"}


def test_the_web_tier_is_only_https_from_anywhere(template: Template) -> None:
    template.has_resource_properties(
        ec2.SecurityGroup,
        {
            "description": "web tier",
            "ingress": [
                Match.object_like(
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "source": "0.0.0.0/0"}
                )
            ],
        },
    )


def test_the_database_admits_only_the_web_group(template: Template) -> None:
    source = Capture()
    template.has_resource_properties(
        ec2.SecurityGroup,
        {
            "description": "database tier",
            "ingress": Match.array_equals(
                [Match.object_like({"from_port": 5432, "source": source})]
            ),
        },
    )
    assert source.as_object() == {"ref": "WebSg.id"}


def test_no_instance_is_open_to_ssh_and_all_require_imdsv2(template: Template) -> None:
    template.all_resources_properties(
        ec2.Instance,
        {
            "require_imdsv2": True,
            "root_volume_encrypted": True,
        },
    )
    template.all_resources_properties(
        ec2.SecurityGroup,
        {
            "ingress": Match.not_(Match.array_with([Match.object_like({"from_port": 22})])),
        },
    )


def test_the_database_runs_in_a_private_subnet(template: Template) -> None:
    subnet = Capture()
    template.has_resource_properties(
        ec2.Instance,
        {
            "instance_type": "t3.medium",
            "subnet": subnet,
        },
    )
    assert subnet.as_object() == {"ref": "Net/PrivateA.id"}


def test_private_subnets_route_through_the_nat_gateway(template: Template) -> None:
    template.has_resource_properties(
        ec2.RouteTable,
        {
            "subnets": [Match.ref("Net/PrivateA"), Match.ref("Net/PrivateB")],
            "routes": [{"destination": "0.0.0.0/0", "gateway": Match.ref("Net/Nat")}],
        },
    )


def test_the_password_is_generated_and_only_readable_by_the_app_role(template: Template) -> None:
    template.has_resource_properties(
        secrets.Secret,
        {
            "generate": Match.object_like({"length": 32}),
            "value": Match.absent(),
        },
    )
    template.has_resource_properties(
        iam.Policy,
        {
            "roles": [Match.ref("AppRole")],
            "statements": [
                {
                    "effect": "Allow",
                    "actions": Match.array_with(["secretsmanager:GetSecretValue"]),
                    "resources": [Match.ref("DbPassword", "arn")],
                }
            ],
        },
    )


def test_the_web_server_learns_the_database_address_at_boot(template: Template) -> None:
    template.has_resource_properties(
        ec2.Instance,
        {
            "instance_type": "t3.micro",
            "user_data": {"join": Match.array_with([Match.ref("Db", "private_ip")])},
        },
    )
    template.deploys_before("Db", "Web")
    template.deploys_before("Net/Nat", "Net/PrivateRoutes")


def test_the_web_address_is_an_output(template: Template) -> None:
    template.has_output("WebIp", Match.ref("Web", "public_ip"))
