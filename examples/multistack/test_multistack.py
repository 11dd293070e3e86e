"""Unit tests for the multi-stack example, written the way a user tests their own stacks.

They run in milliseconds: no cloud, no network, no boto3.
"""

from __future__ import annotations

import pytest

from infradsl import App
from infradsl.aws import ec2
from infradsl.testing import Template

from .app import REGIONS, Network, WebTier


@pytest.fixture
def stacks() -> tuple[Network, WebTier]:
    app = App()
    network = Network(
        app, "net", region="eu-west-1", cidr="10.30.0.0/16", public_cidr="10.30.1.0/24"
    )
    return network, WebTier(app, "web", region="eu-west-1", network=network)


def test_the_app_reads_the_subnet_and_vpc_of_the_network_stack(
    stacks: tuple[Network, WebTier],
) -> None:
    _network, web = stacks
    t = Template.from_stack(web)
    t.resource_count_is(ec2.Vpc, 0)
    t.has_resource_properties(ec2.Instance, {"subnet": {"ref": "Public.id", "stack": "net"}})
    t.has_resource_properties(ec2.SecurityGroup, {"vpc": {"ref": "Vpc.id", "stack": "net"}})


def test_the_public_subnet_is_in_the_stacks_region_and_routed_out(
    stacks: tuple[Network, WebTier],
) -> None:
    network, _web = stacks
    t = Template.from_stack(network)
    t.has_resource_properties(
        ec2.Subnet, {"availability_zone": "eu-west-1a", "cidr_block": "10.30.1.0/24"}
    )
    t.has_resource_properties(ec2.RouteTable, {"subnets": [{"ref": "Public.id"}]})
    t.has_output("VpcId")


def test_each_region_has_its_own_address_space() -> None:
    cidrs = [cidr for _short, cidr, _public in REGIONS.values()]
    assert len(set(cidrs)) == len(cidrs)
