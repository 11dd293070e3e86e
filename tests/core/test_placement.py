"""What AWS refuses about where resources are: another VPC, another zone, another region.

Each case is refused before deploy, with the user's file:line and the construct path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infradsl.cli._loader import load_app
from infradsl.cli.main import main
from infradsl.errors import ValidationError
from infradsl.synth import synthesize, validate

PRELUDE = """\
from infradsl import App, Output, Stack
from infradsl.aws import ec2, iam
app = App()
us = Stack(app, "net", region="us-east-1")
a = ec2.Vpc(us, "A", cidr_block="10.0.0.0/16")
b = ec2.Vpc(us, "B", cidr_block="10.1.0.0/16")
sub_a = ec2.Subnet(us, "SubA", vpc=a, cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
sub_b = ec2.Subnet(us, "SubB", vpc=b, cidr_block="10.1.1.0/24")
igw_a = ec2.InternetGateway(us, "IgwA", vpc=a)
group_a = ec2.SecurityGroup(us, "GroupA", vpc=a)
eu = Stack(app, "app", region="eu-west-1")
"""
FIRST_LINE = PRELUDE.count("\n") + 1
REGION_RULE = (
    "AWS only finds it in its own region (of infradsl's resources only IAM is global); use "
    "one of eu-west-1, or deploy both stacks to one region"
)

# (name, snippet, line of the problem within the snippet (1-based), path, message)
CASES = [
    (
        "instance in one VPC with a group of another",
        'ec2.Instance(us, "Web", image="ami-12345678", instance_type="t3.micro",\n'
        "             subnet=sub_b, security_groups=[group_a])",
        1,
        "net/Web",
        "'security_groups[0]' is group 'GroupA' of VPC 'A', but its subnet 'SubB' is in VPC "
        "'B': an instance's security groups must belong to the VPC of its subnet",
    ),
    (
        "group given as a reference to its id",
        'ec2.Instance(us, "Web", image="ami-12345678", instance_type="t3.micro",\n'
        "             subnet=sub_b, security_groups=[group_a.id])",
        1,
        "net/Web",
        "'security_groups[0]' is group 'GroupA' of VPC 'A', but its subnet 'SubB' is in VPC "
        "'B': an instance's security groups must belong to the VPC of its subnet",
    ),
    (
        "route to another VPC's internet gateway",
        'ec2.RouteTable(us, "Routes", vpc=b,\n'
        '               routes=[ec2.Route(destination="0.0.0.0/0", gateway=igw_a)])',
        1,
        "net/Routes",
        "'routes[0].gateway' is internet gateway 'IgwA' of VPC 'A', but this table is in VPC "
        "'B': a route can only lead to a gateway of its table's VPC",
    ),
    (
        "route to another VPC's NAT gateway given by id",
        'nat = ec2.NatGateway(us, "Nat", subnet=sub_a)\n'
        'ec2.RouteTable(us, "Routes", vpc=b,\n'
        '               routes=[ec2.Route(destination="0.0.0.0/0", gateway=nat.id)])',
        2,
        "net/Routes",
        "'routes[0].gateway' is NAT gateway 'Nat' of VPC 'A', but this table is in VPC 'B': "
        "a route can only lead to a gateway of its table's VPC",
    ),
    (
        "route table associated with a subnet of another VPC",
        'ec2.RouteTable(us, "Routes", vpc=b, subnets=[sub_b, sub_a])',
        1,
        "net/Routes",
        "'subnets[1]' is subnet 'SubA' of VPC 'A', but this table is in VPC 'B': a route "
        "table can only be associated with subnets of its own VPC",
    ),
    (
        "volume attached to an instance of another zone",
        'web = ec2.Instance(us, "Web", image="ami-12345678", instance_type="t3.micro",\n'
        "                   subnet=sub_a)\n"
        'ec2.Volume(us, "Data", availability_zone="us-east-1b", size=10, instance=web)',
        3,
        "net/Data",
        "'availability_zone' 'us-east-1b' is not the zone of instance 'Web' (us-east-1a, "
        "from its subnet 'SubA'): a volume can only be attached to an instance in its own "
        "zone",
    ),
    (
        "instance of a eu-west-1 stack in a subnet of a us-east-1 stack",
        'ec2.Instance(eu, "Web", image="ami-12345678", instance_type="t3.micro", subnet=sub_a)',
        1,
        "app/Web",
        "'subnet' is aws.ec2.Subnet 'SubA' of stack 'net' in us-east-1, but this stack "
        "deploys to eu-west-1: " + REGION_RULE,
    ),
    (
        "subnet of another region given as a reference",
        'ec2.Instance(eu, "Web", image="ami-12345678", instance_type="t3.micro",\n'
        "             subnet=sub_a.id)",
        1,
        "app/Web",
        "'subnet' is aws.ec2.Subnet 'SubA' of stack 'net' in us-east-1, but this stack "
        "deploys to eu-west-1: " + REGION_RULE,
    ),
    (
        "subnet in a VPC of another region",
        'ec2.Subnet(eu, "Sub", vpc=a, cidr_block="10.0.2.0/24")',
        1,
        "app/Sub",
        "'vpc' is aws.ec2.Vpc 'A' of stack 'net' in us-east-1, but this stack deploys to "
        "eu-west-1: " + REGION_RULE,
    ),
    (
        "rule whose source is a group of another region",
        'vpc = ec2.Vpc(eu, "Vpc", cidr_block="10.0.0.0/16")\n'
        'ec2.SecurityGroup(eu, "Web", vpc=vpc, ingress=[ec2.Rule.tcp(22, source=group_a.id)])',
        2,
        "app/Web",
        "'ingress[0].source' is aws.ec2.SecurityGroup 'GroupA' of stack 'net' in us-east-1, "
        "but this stack deploys to eu-west-1: " + REGION_RULE,
    ),
    (
        "route of another region's gateway",
        'vpc = ec2.Vpc(eu, "Vpc", cidr_block="10.0.0.0/16")\n'
        'ec2.RouteTable(eu, "Routes", vpc=vpc,\n'
        '               routes=[ec2.Route(destination="0.0.0.0/0", gateway=igw_a.id)])',
        2,
        "app/Routes",
        "'routes[0].gateway' is aws.ec2.InternetGateway 'IgwA' of stack 'net' in us-east-1, "
        "but this stack deploys to eu-west-1: " + REGION_RULE,
    ),
]


def write_app(tmp_path: Path, snippet: str) -> Path:
    path = tmp_path / "app.py"
    path.write_text(PRELUDE + textwrap.dedent(snippet) + "\n")
    return path


@pytest.mark.parametrize(
    ("snippet", "line", "path", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_what_aws_refuses_about_placement_is_reported_with_path_and_file_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snippet: str,
    line: int,
    path: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = load_app(str(write_app(tmp_path, snippet)))
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    assert [str(p) for p in info.value.problems] == [
        f"app.py:{FIRST_LINE + line - 1}: {path}: {message}"
    ]


def test_the_cli_refuses_a_resource_of_another_region_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    snippet = (
        'ec2.Instance(eu, "Web", image="ami-12345678", instance_type="t3.micro", subnet=sub_a)'
    )
    with pytest.raises(SystemExit) as info:
        main(["synth", str(write_app(tmp_path, snippet))])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"app.py:{FIRST_LINE}: app/Web: 'subnet' is aws.ec2.Subnet 'SubA'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "infradsl.out").exists()


def test_what_is_global_or_only_text_may_come_from_another_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    snippet = """\
        role = iam.Role(us, "Role", assumed_by="ec2.amazonaws.com")
        vpc = ec2.Vpc(eu, "Vpc", cidr_block="10.0.0.0/16")
        sub = ec2.Subnet(eu, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
        ec2.Instance(eu, "Web", image="ami-12345678", instance_type="t3.micro", subnet=sub,
                     role=role, user_data=f"#!/bin/sh\\nping {sub_a.id} {group_a.arn}\\n")
        iam.Policy(eu, "Read", roles=[role],
                   statements=[iam.Statement(actions=["ec2:Describe*"], resources=[sub.arn])])
        Output(eu, "NetVpc", a.id)
        """
    app = load_app(str(write_app(tmp_path, snippet)))
    assert validate(app) == []


def test_lookups_that_may_be_the_same_vpc_are_left_to_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    snippet = """\
        private = ec2.Subnet.lookup(us, "Private", tags={"tier": "private"})
        shared = ec2.SecurityGroup.lookup(us, "Shared", name="shared")
        ec2.Instance(us, "Web", image="ami-12345678", instance_type="t3.micro",
                     subnet=private, security_groups=[shared])
        """
    app = load_app(str(write_app(tmp_path, snippet)))
    assert validate(app) == []


def test_a_lookup_of_another_region_is_refused_like_a_managed_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    snippet = """\
        private = ec2.Subnet.lookup(us, "Private", tags={"tier": "private"})
        ec2.Instance(eu, "Web", image="ami-12345678", instance_type="t3.micro", subnet=private)
        """
    app = load_app(str(write_app(tmp_path, snippet)))
    assert [str(p) for p in validate(app)] == [
        f"app.py:{FIRST_LINE + 1}: app/Web: 'subnet' is aws.ec2.Subnet 'Private' of stack "
        "'net' in us-east-1, but this stack deploys to eu-west-1: " + REGION_RULE
    ]
