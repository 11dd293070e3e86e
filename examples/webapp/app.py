"""A two-tier web application: public web servers, a private database, a NAT for updates.

Deploy it to the embedded local cloud with ``infradsl deploy examples/webapp/app.py``.
"""

from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2, iam, secrets

ZONES = ("a", "b")


class Network(Construct):
    """A VPC across two zones: a public and a private subnet in each, one NAT gateway."""

    def __init__(self, scope: Construct, id: str, *, region: str, cidr: str = "10.0.0.0/16"):
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(self, "Vpc", cidr_block=cidr)
        igw = ec2.InternetGateway(self, "Igw", vpc=self.vpc)
        self.public = [
            ec2.Subnet(
                self,
                f"Public{zone.upper()}",
                vpc=self.vpc,
                cidr_block=f"10.0.{index}.0/24",
                availability_zone=f"{region}{zone}",
                map_public_ip_on_launch=True,
            )
            for index, zone in enumerate(ZONES, start=1)
        ]
        self.private = [
            ec2.Subnet(
                self,
                f"Private{zone.upper()}",
                vpc=self.vpc,
                cidr_block=f"10.0.{index}.0/24",
                availability_zone=f"{region}{zone}",
            )
            for index, zone in enumerate(ZONES, start=11)
        ]
        nat = ec2.NatGateway(self, "Nat", subnet=self.public[0])
        ec2.RouteTable(
            self,
            "PublicRoutes",
            vpc=self.vpc,
            subnets=self.public,
            routes=[ec2.Route(destination="0.0.0.0/0", gateway=igw)],
        )
        ec2.RouteTable(
            self,
            "PrivateRoutes",
            vpc=self.vpc,
            subnets=self.private,
            routes=[ec2.Route(destination="0.0.0.0/0", gateway=nat)],
        )


class WebApp(Stack):
    """Web servers on 443 in the public subnets, a database only they can reach."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        net = Network(self, "Net", region=self.region)

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

        role = iam.Role(
            self,
            "AppRole",
            assumed_by="ec2.amazonaws.com",
            description="read the database password",
        )
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
            image="ami-0a1b2c3d4e5f60718",
            instance_type="t3.medium",
            subnet=net.private[0],
            security_groups=[db_sg],
            role=role,
            root_volume_size=50,
            user_data=(
                "#!/bin/sh\n"
                "dnf install -y postgresql15-server\n"
                f"{db_password.fetch_at_boot(to='/run/postgres/db-password')}"
                "chown -R postgres: /run/postgres\n"
                'PGSETUP_INITDB_OPTIONS="--auth-host=scram-sha-256 '
                '--pwfile=/run/postgres/db-password" postgresql-setup --initdb\n'
                "rm -f /run/postgres/db-password\n"
                "echo \"listen_addresses = '*'\" >> /var/lib/pgsql/data/postgresql.conf\n"
                'echo "host all all 10.0.0.0/16 scram-sha-256" >> /var/lib/pgsql/data/pg_hba.conf\n'
                "systemctl enable --now postgresql\n"
            ),
        )
        web = ec2.Instance(
            self,
            "Web",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=net.public[0],
            security_groups=[web_sg],
            role=role,
            user_data=(
                f"#!/bin/sh\nexport DB_HOST={db.private_ip}\n"
                f"{db_password.fetch_at_boot(to='/run/db-password')}"
            ),
        )

        Output(self, "WebIp", web.public_ip, description="public address of the web server")
        Output(self, "DbHost", db.private_ip)
        Output(self, "VpcId", net.vpc.id)


app = App()
WebApp(app, "webapp", region="us-east-1")
