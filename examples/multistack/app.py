"""A network stack and an app stack in each of two regions.

Each app stack reads its region's VPC and subnet straight from the network stack, in
plain Python. infradsl deploys each network before the app that reads from it, plans the
app again when a network resource it uses is replaced, destroys apps before their
networks, and refuses to destroy a network alone while an app still uses it.

Deploy it to the embedded local cloud with ``infradsl deploy examples/multistack/app.py``.
"""

from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2

# region -> (short name, VPC CIDR, public subnet CIDR)
REGIONS = {
    "us-east-1": ("east", "10.10.0.0/16", "10.10.1.0/24"),
    "us-west-2": ("west", "10.20.0.0/16", "10.20.1.0/24"),
}


class Network(Stack):
    """A VPC with one public subnet routed to the internet: shared by the app stacks."""

    def __init__(
        self, scope: Construct, id: str, *, cidr: str, public_cidr: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.vpc = ec2.Vpc(self, "Vpc", cidr_block=cidr)
        igw = ec2.InternetGateway(self, "Igw", vpc=self.vpc)
        self.public = ec2.Subnet(
            self,
            "Public",
            vpc=self.vpc,
            cidr_block=public_cidr,
            availability_zone=f"{self.region}a",
            map_public_ip_on_launch=True,
        )
        ec2.RouteTable(
            self,
            "Routes",
            vpc=self.vpc,
            subnets=[self.public],
            routes=[ec2.Route(destination="0.0.0.0/0", gateway=igw)],
        )
        Output(self, "VpcId", self.vpc.id)


class WebTier(Stack):
    """A web server in a network stack's public subnet, open on 443."""

    def __init__(self, scope: Construct, id: str, *, network: Network, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        web_sg = ec2.SecurityGroup(
            self,
            "WebSg",
            vpc=network.vpc,
            description="web tier",
            ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0")],
        )
        web = ec2.Instance(
            self,
            "Web",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=network.public,
            security_groups=[web_sg],
        )
        Output(self, "WebIp", web.public_ip, description="public address of the web server")


app = App()
for region, (short, cidr, public_cidr) in REGIONS.items():
    network = Network(app, f"network-{short}", region=region, cidr=cidr, public_cidr=public_cidr)
    WebTier(app, f"app-{short}", region=region, network=network)
