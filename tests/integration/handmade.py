"""A hand-made environment built with boto3, as people build them in the console: what
`infradsl import` and `infradsl drift` are tested on."""

from __future__ import annotations

import json
from typing import Any

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
BACKUP_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::backups/*"}
        ],
    }
)


def _named(kind: str, name: str) -> list[Any]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def build_handmade(cloud: Any) -> dict[str, str]:
    """A VPC with two subnets, an internet gateway, a route table, two security groups that
    admit each other (one also admits SSH from anywhere), an instance profile, a database
    server with an extra data volume and a web server with an elastic IP.

    Returns:
        The ids by role: ``vpc``, ``public``, ``private``, ``igw``, ``routes``, ``app_sg``,
        ``db_sg``, ``db``, ``web``, ``data``, ``eip``, ``image``.
    """
    ec2, iam = cloud.client("ec2"), cloud.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=_named("vpc", "legacy"))
    vpc_id = vpc["Vpc"]["VpcId"]
    public = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock="10.20.1.0/24",
        AvailabilityZone="us-east-1a",
        TagSpecifications=_named("subnet", "public-a"),
    )["Subnet"]["SubnetId"]
    private = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock="10.20.2.0/24",
        AvailabilityZone="us-east-1b",
        TagSpecifications=_named("subnet", "private-b"),
    )["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=_named("internet-gateway", "legacy-igw"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_named("route-table", "public"))
    routes = table["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=routes, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.associate_route_table(RouteTableId=routes, SubnetId=public)
    app_sg = ec2.create_security_group(
        GroupName="app",
        Description="app servers",
        VpcId=vpc_id,
        TagSpecifications=_named("security-group", "app"),
    )["GroupId"]
    db_sg = ec2.create_security_group(GroupName="db", Description="database", VpcId=vpc_id)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=db_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": app_sg, "Description": "app to db"}],
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=app_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "UserIdGroupPairs": [{"GroupId": db_sg}],
            },
        ],
    )
    iam.create_role(
        RoleName="legacy-db",
        AssumeRolePolicyDocument=TRUST,
        Description="database server",
        MaxSessionDuration=7200,
    )
    iam.attach_role_policy(
        RoleName="legacy-db", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )
    policy = iam.create_policy(PolicyName="legacy-backup", PolicyDocument=BACKUP_POLICY)
    iam.attach_role_policy(RoleName="legacy-db", PolicyArn=policy["Policy"]["Arn"])
    iam.create_instance_profile(InstanceProfileName="legacy-db-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="legacy-db-profile", RoleName="legacy-db")
    ec2.create_key_pair(KeyName="ops")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    db = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.large",
        MinCount=1,
        MaxCount=1,
        SubnetId=private,
        SecurityGroupIds=[db_sg],
        IamInstanceProfile={"Name": "legacy-db-profile"},
        KeyName="ops",
        TagSpecifications=_named("instance", "legacy-db"),
    )["Instances"][0]["InstanceId"]
    data = ec2.create_volume(
        AvailabilityZone="us-east-1b",
        Size=100,
        VolumeType="gp2",
        TagSpecifications=_named("volume", "pgdata"),
    )["VolumeId"]
    ec2.attach_volume(VolumeId=data, InstanceId=db, Device="/dev/sdf")
    web = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=public,
        SecurityGroupIds=[app_sg],
        TagSpecifications=_named("instance", "web"),
    )["Instances"][0]["InstanceId"]
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=_named("elastic-ip", "web-ip"))
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=web)
    return {
        "vpc": vpc_id,
        "public": public,
        "private": private,
        "igw": igw_id,
        "routes": routes,
        "app_sg": app_sg,
        "db_sg": db_sg,
        "db": db,
        "web": web,
        "data": data,
        "eip": eip["AllocationId"],
        "image": image,
    }
