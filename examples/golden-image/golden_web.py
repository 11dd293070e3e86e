"""The golden-image example's stack: web servers from a golden image and a stateful database.

See ``app.py`` for what it shows and how to deploy it.
"""

from __future__ import annotations

from typing import Any

from infradsl import Construct, Output, Stack
from infradsl.aws import ec2, iam, secrets

ZONE = "a"


class GoldenWeb(Stack):
    """A public subnet with two web servers from a golden image, and a database server."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        zone = f"{self.region}{ZONE}"
        vpc = ec2.Vpc(self, "Vpc", cidr_block="10.20.0.0/16")
        igw = ec2.InternetGateway(self, "Igw", vpc=vpc)
        public = ec2.Subnet(
            self,
            "Public",
            vpc=vpc,
            cidr_block="10.20.1.0/24",
            availability_zone=zone,
            map_public_ip_on_launch=True,
        )
        ec2.RouteTable(
            self,
            "Routes",
            vpc=vpc,
            subnets=[public],
            routes=[ec2.Route(destination="0.0.0.0/0", gateway=igw)],
        )

        base = ec2.Image.lookup(self, "Base", owner="amazon", name="amzn2-ami-hvm-*-x86_64-gp2")
        golden = ec2.Image(
            self,
            "Golden",
            base=base,
            directory="provision",
            steps=[
                ec2.Ansible(
                    playbook="site.yml",
                    extra_vars={"site_name": "golden-web", "worker_connections": 1024},
                ),
                ec2.Shell(script="harden.sh"),
                ec2.CopyFile(source="motd", destination="/etc/motd"),
            ],
            subnet=public,
            keep=2,
        )

        web_sg = ec2.SecurityGroup(
            self,
            "WebSg",
            vpc=vpc,
            description="web tier",
            ingress=[ec2.Rule.tcp(80, source="0.0.0.0/0")],
        )
        for index in (1, 2):
            web = ec2.Instance(
                self,
                f"Web{index}",
                image=golden,
                instance_type="t3.micro",
                subnet=public,
                security_groups=[web_sg],
            )
            Output(self, f"Web{index}Ip", web.public_ip)

        db_sg = ec2.SecurityGroup(
            self,
            "DbSg",
            vpc=vpc,
            description="database tier",
            ingress=[ec2.Rule.tcp(5432, source=web_sg, description="postgres from web")],
        )
        db_role = iam.Role(self, "DbRole", assumed_by="ec2.amazonaws.com")
        password = secrets.Secret(self, "DbPassword", generate=secrets.Generate(length=32))
        password.grant_read(db_role)
        db = ec2.Instance(
            self,
            "Db",
            image=golden,
            instance_type="t3.small",
            subnet=public,
            security_groups=[db_sg],
            role=db_role,
            # The password is read at boot through the role: never in user data or state.
            user_data=(
                "#!/bin/sh\n"
                f"{password.fetch_at_boot(to='/run/db-password')}\n"
                "systemctl start postgresql\n"
            ),
            stateful=True,
            migration=ec2.Migration(command="sh db/migrate.sh", timeout=600),
        )
        data = ec2.Volume(
            self, "DbData", availability_zone=zone, size=20, instance=db, device="/dev/sdf"
        )
        Output(self, "DbVolume", data.id)
        Output(self, "DbPrivateIp", db.private_ip)
