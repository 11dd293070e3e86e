"""The web application stamped out in two regions from one stack class.

Each replica is a stack of its own (``webapp-us-east-1``, ``webapp-eu-west-1``) with its
own state; what differs by region (machine images, availability zones) is looked up by
the stack's region in one mapping, not copied. The replicas do not read from each other,
so one command deploys them side by side:

    infradsl deploy examples/replica/app.py --yes
    infradsl plan examples/replica/app.py --stack 'webapp-eu-*'
"""

from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2, iam, secrets

# Where the application runs. Adding a region is one line here, plus its entries below.
REGIONS = ("us-east-1", "eu-west-1")

# Machine images are regional: the same image has another id in each region.
WEB_IMAGE = {"us-east-1": "ami-12345678", "eu-west-1": "ami-0e1f2a3b4c5d6e7f8"}
DB_IMAGE = {"us-east-1": "ami-0a1b2c3d4e5f60718", "eu-west-1": "ami-0f9e8d7c6b5a49382"}
# Two zones per region; not every region names its zones a, b, c.
ZONES = {
    "us-east-1": ("us-east-1a", "us-east-1b"),
    "eu-west-1": ("eu-west-1a", "eu-west-1b"),
}


class Network(Construct):
    """A VPC across the stack's two zones: a public and a private subnet in each."""

    def __init__(self, scope: Construct, id: str, *, cidr: str = "10.0.0.0/16") -> None:
        super().__init__(scope, id)
        zones = Stack.of(self).region_value(ZONES, name="ZONES")
        self.vpc = ec2.Vpc(self, "Vpc", cidr_block=cidr)
        igw = ec2.InternetGateway(self, "Igw", vpc=self.vpc)
        self.public = [
            ec2.Subnet(
                self,
                f"Public{index}",
                vpc=self.vpc,
                cidr_block=f"10.0.{index}.0/24",
                availability_zone=zone,
                map_public_ip_on_launch=True,
            )
            for index, zone in enumerate(zones, start=1)
        ]
        self.private = [
            ec2.Subnet(
                self,
                f"Private{index}",
                vpc=self.vpc,
                cidr_block=f"10.0.{10 + index}.0/24",
                availability_zone=zone,
            )
            for index, zone in enumerate(zones, start=1)
        ]
        ec2.RouteTable(
            self,
            "PublicRoutes",
            vpc=self.vpc,
            subnets=self.public,
            routes=[ec2.Route(destination="0.0.0.0/0", gateway=igw)],
        )


class WebApp(Stack):
    """Web servers on 443 in a public subnet, a database only they can reach."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        net = Network(self, "Net")
        web_sg = ec2.SecurityGroup(
            self,
            "WebSg",
            vpc=net.vpc,
            description="web tier",
            ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0")],
        )
        db_sg = ec2.SecurityGroup(
            self,
            "DbSg",
            vpc=net.vpc,
            description="database tier",
            ingress=[ec2.Rule.tcp(5432, source=web_sg, description="postgres from web")],
        )
        role = iam.Role(self, "AppRole", assumed_by="ec2.amazonaws.com")
        db_password = secrets.Secret(
            self,
            "DbPassword",
            description="password of the application database",
            generate=secrets.Generate(length=32, exclude_punctuation=True),
        )
        db_password.grant_read(role)
        db = ec2.Instance(
            self,
            "Db",
            image=self.region_value(DB_IMAGE, name="DB_IMAGE"),
            instance_type="t3.medium",
            subnet=net.private[0],
            security_groups=[db_sg],
            role=role,
            user_data=f"#!/bin/sh\ninit-postgres --password-secret {db_password.arn}\n",
        )
        web = ec2.Instance(
            self,
            "Web",
            image=self.region_value(WEB_IMAGE, name="WEB_IMAGE"),
            instance_type="t3.micro",
            subnet=net.public[0],
            security_groups=[web_sg],
            role=role,
            user_data=(
                f"#!/bin/sh\nexport DB_HOST={db.private_ip}\n"
                f"fetch-secret {db_password.arn} > /run/db-password\n"
            ),
        )
        Output(self, "WebIp", web.public_ip, description="public address of the web server")
        Output(self, "Region", self.region)


app = App()
for region in REGIONS:
    WebApp(app, f"webapp-{region}", region=region, tags={"replica": region})
