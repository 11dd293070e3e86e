"""Through the CLI on the local cloud: lookups of hand-made resources, AWS's managed
policies in the local cloud, and the account line of ``--target aws``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli

from infradsl.providers.aws import clients as aws_clients

ROOT = Path(__file__).resolve().parents[2]
EXISTING = ROOT / "examples" / "existing" / "app.py"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def project(tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the lookups example with its own state directory."""
    shutil.copy(EXISTING, tmp_path / "app.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    return tmp_path


def make_shared_vpc(cloud: Any, cidr: str = "10.20.0.0/16") -> str:
    vpc = cloud.client("ec2").create_vpc(
        CidrBlock=cidr,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "shared"}]}],
    )
    return str(vpc["Vpc"]["VpcId"])


def make_ops_role(cloud: Any) -> str:
    role = cloud.client("iam").create_role(
        RoleName="ops-role", AssumeRolePolicyDocument=json.dumps(TRUST)
    )
    return str(role["Role"]["Arn"])


def test_a_stack_builds_into_a_hand_made_vpc_and_destroy_leaves_it(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    vpc = make_shared_vpc(local_cloud)
    make_ops_role(local_cloud)

    code, out, err = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 2, out + err
    assert f"<=  Shared  aws.ec2.Vpc  {vpc}  (looked up by tags Name=shared)" in out, out
    assert '      arn="arn:aws:ec2:us-east-1:123456789012:vpc/' in out
    assert 'cidr_block="10.20.0.0/16"' in out
    assert "<=  Ops  aws.iam.Role  ops-role  (looked up by name ops-role)" in out
    assert "Plan: 4 to create, 0 to update, 0 to replace, 0 to delete." in out

    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    state = json.loads((project / "state" / "local" / "worker.json").read_text())
    assert sorted(state["resources"]) == ["Ops/Profile", "Worker", "WorkerSg", "Workers"]
    assert state["resources"]["Workers"]["inputs"]["vpc"] == vpc
    assert state["outputs"]["SharedVpcId"] == vpc
    ingress = state["resources"]["WorkerSg"]["inputs"]["ingress"]
    assert ingress[0]["source"] == "10.20.0.0/16"
    touched = [(o, p) for _s, o, p in calls.mutating() if vpc in json.dumps(p, default=str)]
    assert {o for o, _ in touched} <= {"CreateSubnet", "CreateSecurityGroup"}
    assert not any(o in ("CreateRole", "DeleteRole", "CreateVpc") for _s, o, _p in calls.calls)

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0 and "No changes" in out, out

    with recording() as calls:
        code, out, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert "<=" not in out, "destroy does not look anything up"
    operations = {o for _s, o, _p in calls.calls}
    assert not operations & {"DeleteVpc", "DeleteRole", "DetachRolePolicy"}
    ec2 = local_cloud.client("ec2")
    assert [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]] == [vpc]
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"] == []
    assert local_cloud.client("iam").get_role(RoleName="ops-role")["Role"]["RoleName"]


def test_a_lookup_that_finds_nothing_exits_1_before_any_change(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_ops_role(local_cloud)
    with recording() as calls:
        code, _out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 1
    assert err.strip().splitlines() == [
        "error: refused, nothing was changed: the lookup worker/Shared (aws.ec2.Vpc) by tags "
        "Name=shared found nothing in us-east-1 (local)"
    ]
    assert calls.mutating() == []
    assert not (project / "state" / "local" / "worker.json").exists()


def test_a_lookup_that_matches_several_exits_1_naming_them(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = sorted([make_shared_vpc(local_cloud), make_shared_vpc(local_cloud)])
    code, _out, err = run_cli(["plan", "app.py"], capsys)
    assert code == 1
    assert (
        "the lookup worker/Shared (aws.ec2.Vpc) by tags Name=shared matched 2 in us-east-1 "
        f"(local) ({first}, {second}); add criteria or give its id so that exactly one matches"
    ) in err
    # The role lookup failed too: every failed lookup is reported at once.
    assert "the lookup worker/Ops (aws.iam.Role) by name ops-role found nothing" in err


def test_a_subnet_outside_the_looked_up_vpc_is_refused_when_planning(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    vpc = make_shared_vpc(local_cloud, cidr="10.50.0.0/16")
    make_ops_role(local_cloud)
    code, _out, err = run_cli(["plan", "app.py"], capsys)
    assert code == 1
    assert (
        f"Workers: 'cidr_block' 10.20.5.0/24 is outside its VPC Shared ({vpc}, 10.50.0.0/16), "
        "which was looked up by tags Name=shared; pick a range inside it"
    ) in err


IAM_DOCS_EXAMPLE = """
from infradsl import App, Stack
from infradsl.aws import iam

app = App()
stack = Stack(app, "roles")
role = iam.Role(stack, "WebRole", assumed_by="ec2.amazonaws.com",
                description="web servers",
                managed_policies=["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"])
admin = iam.Role(stack, "Breakglass", assumed_by="123456789012",
                 managed_policies=["arn:aws:iam::aws:policy/AdministratorAccess",
                                   "arn:aws:iam::aws:policy/ReadOnlyAccess",
                                   "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"])
"""


def test_the_iam_docs_example_deploys_on_the_local_cloud_with_aws_managed_policies(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    (tmp_path / "app.py").write_text(IAM_DOCS_EXAMPLE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    state = json.loads((tmp_path / "state" / "local" / "roles.json").read_text())
    iam = local_cloud.client("iam")
    attached = iam.list_attached_role_policies(
        RoleName=state["resources"]["WebRole"]["physical_id"]
    )["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonSSMManagedInstanceCore"]
    assert run_cli(["destroy", "app.py", "--yes"], capsys)[0] == 0


def test_target_aws_names_the_account_and_region_before_the_plan(
    project: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    make_shared_vpc(local_cloud)
    make_ops_role(local_cloud)
    # --target aws with boto3's standard configuration, pointed at the emulator.
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_cloud.endpoint)
    monkeypatch.delenv("INFRADSL_LOCAL_ENDPOINT")
    code, out, err = run_cli(["--target", "aws", "plan", "app.py"], capsys)
    assert code == 0, out + err
    lines = out.splitlines()
    assert (
        lines[0]
        == "AWS account 123456789012 (arn:aws:sts::123456789012:user/moto), region us-east-1"
    )
    assert lines[1] == "Stack worker (us-east-1, aws) plan"

    code, out, err = run_cli(["--target", "aws", "plan", "app.py", "--json"], capsys)
    assert code == 0, out + err
    assert json.loads(out)[0]["stack"] == "worker"
    assert err.startswith("AWS account 123456789012 ")

    code, out, err = run_cli(["--target", "aws", "deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert out.splitlines()[0].startswith("AWS account 123456789012 ")
    code, out, err = run_cli(["--target", "aws", "destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert out.splitlines()[0].startswith("AWS account 123456789012 ")


def test_target_aws_without_credentials_exits_1_before_planning(
    project: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(project / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(project / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_cloud.endpoint)
    # A fresh boto3 session, so credentials found by earlier tests are not reused.
    monkeypatch.setattr(aws_clients, "_session", None)
    code, out, err = run_cli(["--target", "aws", "plan", "app.py"], capsys)
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        "error: no AWS credentials found for AWS (us-east-1); nothing was changed. Configure "
        "them as for the AWS CLI (AWS_PROFILE, `aws configure`, or an assumed role)"
    ]
