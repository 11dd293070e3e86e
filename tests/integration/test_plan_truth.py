"""Through the CLI on the local cloud: removing protect takes effect, tags changed by hand
are shown and put back by every handler, a component renamed with an alias keeps its
resources (and gets its new Name tags), and output changes are planned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli

APP = """\
from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2, iam, s3, secrets

app = App()
stack = Stack(app, "small")
net = Construct(stack, "Net")
vpc = ec2.Vpc(net, "Vpc", cidr_block="10.0.0.0/16", tags={"team": "web"}, protect=True)
subnet = ec2.Subnet(net, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24")
sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc, description="web",
                       ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0")])
role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com", tags={"team": "web"})
logs = s3.Bucket(stack, "Logs", tags={"team": "web"})
token = secrets.Secret(stack, "Token", generate=secrets.Generate(length=16),
                       tags={"team": "web"})
Output(stack, "VpcId", vpc.id)
"""


@pytest.fixture
def project(tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    return tmp_path


def edit(project: Path, old: str, new: str) -> None:
    app = project / "app.py"
    text = app.read_text()
    assert old in text
    app.write_text(text.replace(old, new))


def ids(project: Path) -> dict[str, str]:
    state = json.loads((project / "state" / "local" / "small.json").read_text())
    return {path: res["physical_id"] for path, res in state["resources"].items()}


def deploy(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    return out


def test_removing_protect_rule_and_output_changes_are_planned_and_deployed(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(capsys)
    code, _, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 1 and "Net/Vpc is protected and would be deleted" in err

    edit(project, ", protect=True)", ")")
    edit(
        project,
        '[ec2.Rule.tcp(443, source="0.0.0.0/0")]',
        '[ec2.Rule.tcp(443, source="0.0.0.0/0"), ec2.Rule.tcp(80, source="0.0.0.0/0")]',
    )
    edit(
        project,
        'Output(stack, "VpcId", vpc.id)\n',
        'Output(stack, "VpcId", vpc.id)\nOutput(stack, "Bucket", logs.id, description="logs")\n',
    )
    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 2
    assert "      protect: true -> false  (option)\n" in out
    assert "      ingress:\n        + tcp 80 from 0.0.0.0/0\n" in out
    bucket = ids(project)["Logs"]
    assert f'  +   Bucket = "{bucket}"  # logs\n' in out
    assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete. Outputs: 1 added." in out

    out = deploy(capsys)
    assert "logs" in out.split("Outputs of small")[1], "the description is in the table"
    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0, out
    code, out, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err


def test_tags_changed_by_hand_are_shown_and_put_back_by_every_handler(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(capsys)
    found = ids(project)
    ec2 = local_cloud.client("ec2")
    ec2.delete_tags(Resources=[found["Net/Vpc"]], Tags=[{"Key": "team"}, {"Key": "Name"}])
    ec2.create_tags(Resources=[found["Sg"]], Tags=[{"Key": "owner", "Value": "bob"}])
    local_cloud.client("iam").untag_role(RoleName=found["Role"], TagKeys=["team"])
    s3 = local_cloud.client("s3")
    tags = s3.get_bucket_tagging(Bucket=found["Logs"])["TagSet"]
    s3.put_bucket_tagging(
        Bucket=found["Logs"], Tagging={"TagSet": [t for t in tags if t["Key"] != "team"]}
    )
    local_cloud.client("secretsmanager").untag_resource(SecretId=found["Token"], TagKeys=["team"])

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 2
    for path in ("Net/Vpc", "Sg", "Role", "Logs", "Token"):
        assert f"{path}" in out and "('tags' was changed outside infradsl)" in out
    assert '        + Name = "small/Net/Vpc"\n' in out
    assert '        - owner = "bob"\n' in out
    assert out.count('        + team = "web"\n') == 4
    assert "Plan: 0 to create, 5 to update, 0 to replace, 0 to delete." in out

    deploy(capsys)
    vpc_tags = {
        t["Key"]: t["Value"]
        for t in ec2.describe_vpcs(VpcIds=[found["Net/Vpc"]])["Vpcs"][0]["Tags"]
    }
    assert vpc_tags["team"] == "web" and vpc_tags["Name"] == "small/Net/Vpc"
    assert "infradsl:token" in vpc_tags
    sg = ec2.describe_security_groups(GroupIds=[found["Sg"]])["SecurityGroups"][0]
    assert "owner" not in {t["Key"] for t in sg["Tags"]}
    role = local_cloud.client("iam").get_role(RoleName=found["Role"])["Role"]
    assert {"Key": "team", "Value": "web"} in role["Tags"]
    bucket = s3.get_bucket_tagging(Bucket=found["Logs"])["TagSet"]
    assert {"Key": "team", "Value": "web"} in bucket
    assert any(t["Key"] == "infradsl:token" for t in bucket)
    secret = local_cloud.client("secretsmanager").describe_secret(SecretId=found["Token"])
    assert {"Key": "team", "Value": "web"} in secret["Tags"]

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0, out


def test_a_component_renamed_with_an_alias_keeps_its_resources_and_renames_their_tags(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(capsys)
    before = ids(project)
    edit(
        project,
        'net = Construct(stack, "Net")\n',
        'net = Construct(stack, "Network")\nnet.node.add_alias("Net")\n',
    )

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 2
    assert "(renamed from Net/Vpc)" in out and "(renamed from Net/Subnet)" in out
    assert '        ~ Name: "small/Net/Vpc" -> "small/Network/Vpc"\n' in out
    assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete." in out

    with recording() as calls:
        deploy(capsys)
    assert {op for _s, op, _p in calls.mutating()} <= {"CreateTags", "DeleteTags"}
    after = ids(project)
    assert after["Network/Vpc"] == before["Net/Vpc"]
    assert after["Network/Subnet"] == before["Net/Subnet"]
    assert after["Sg"] == before["Sg"]
    ec2 = local_cloud.client("ec2")
    tags = {
        t["Key"]: t["Value"]
        for t in ec2.describe_vpcs(VpcIds=[after["Network/Vpc"]])["Vpcs"][0]["Tags"]
    }
    assert (tags["Name"], tags["infradsl:path"]) == ("small/Network/Vpc", "Network/Vpc")

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0, out
