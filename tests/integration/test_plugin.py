"""The pytest plugin's fixtures, used the way a user writes an integration test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infradsl import App, Output, Stack
from infradsl.aws import ec2
from infradsl.testing.plugin import Deployer


def small_app() -> Stack:
    stack = Stack(App(), "small")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.9.0.0/16")
    ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.9.1.0/24", availability_zone="us-east-1a")
    Output(stack, "VpcId", vpc.id)
    return stack


def test_deploy_stack_gives_outputs_and_physical_ids(deploy_stack: Any, local_cloud: Any) -> None:
    deployed = deploy_stack(small_app())
    vpc_id = deployed.physical_ids["Vpc"]
    assert deployed.outputs["VpcId"] == vpc_id
    subnets = local_cloud.client("ec2").describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["Subnets"]
    assert [s["CidrBlock"] for s in subnets] == ["10.9.1.0/24"]


def test_the_deployer_destroys_what_it_deployed(local_cloud: Any, tmp_path: Path) -> None:
    deployer = Deployer(local_cloud.endpoint, tmp_path / "state")
    vpc_id = deployer.deploy(small_app()).physical_ids["Vpc"]
    ec2_client = local_cloud.client("ec2")
    assert ec2_client.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    deployer.close()
    assert ec2_client.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []
