"""Build into a network that infradsl does not manage: a VPC and a role looked up.

The VPC tagged ``Name=shared`` (10.20.0.0/16) and the role ``ops-role`` exist already,
made by another team or another tool. This stack adds a subnet, a security group and a
worker instance to that VPC, and lets the worker assume that role. ``infradsl plan``
shows what it looked up (``<=``); ``infradsl destroy`` removes what it added and never
touches the VPC or the role.

To try it on the local cloud, make the shared VPC and role first::

    python examples/existing/app.py --prepare-local-cloud
    infradsl deploy examples/existing/app.py
"""

from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2, iam


class Worker(Stack):
    """A worker tier inside the shared VPC, running as the shared ops role."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        shared = ec2.Vpc.lookup(self, "Shared", tags={"Name": "shared"})
        ops = iam.Role.lookup(self, "Ops", name="ops-role")
        subnet = ec2.Subnet(
            self,
            "Workers",
            vpc=shared,
            cidr_block="10.20.5.0/24",
            availability_zone=f"{self.region}a",
        )
        group = ec2.SecurityGroup(
            self,
            "WorkerSg",
            vpc=shared,
            description="workers: HTTPS from inside the shared VPC",
            ingress=[ec2.Rule.tcp(443, source=shared.cidr_block)],
        )
        ec2.Instance(
            self,
            "Worker",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=subnet,
            security_groups=[group],
            role=ops,
        )
        Output(self, "SharedVpcId", shared.id)
        Output(self, "SubnetId", subnet.id)


app = App()
Worker(app, "worker", region="us-east-1")


def prepare_local_cloud() -> None:
    """Make the shared VPC and role in the local cloud, as another team would have."""
    import json

    from infradsl.local.server import ensure_local_cloud
    from infradsl.providers.aws.clients import Clients

    clients = Clients("us-east-1", ensure_local_cloud().endpoint)
    ec2_client = clients.client("ec2")
    ec2_client.create_vpc(
        CidrBlock="10.20.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "shared"}]}],
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam_client = clients.client("iam")
    iam_client.create_role(RoleName="ops-role", AssumeRolePolicyDocument=json.dumps(trust))


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--prepare-local-cloud"]:
        prepare_local_cloud()
