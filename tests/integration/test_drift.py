"""`infradsl drift` on the local cloud: hand edits to an imported (then deployed) stack are
named one by one; a clean stack exits 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli
from handmade import build_handmade

pytestmark = pytest.mark.slow


@pytest.fixture
def adopted(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    """The hand-made environment, imported as legacy.py."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    ids = build_handmade(local_cloud)
    code, out, err = run_cli(["import", "--vpc", ids["vpc"], "-o", "legacy.py"], capsys)
    assert code == 0, out + err
    return ids


def test_a_stack_just_imported_or_deployed_has_no_drift(
    adopted: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with recording() as calls:
        code, out, err = run_cli(["drift", "legacy.py"], capsys)
    assert code == 0, out + err
    assert "No drift" in out
    assert "IaC coverage: 15 of 15 resources in scope are managed by infradsl (100.0%)" in out
    assert calls.mutating() == []
    assert run_cli(["deploy", "legacy.py", "--yes"], capsys)[0] == 0
    code, out, _ = run_cli(["drift", "legacy.py"], capsys)
    assert code == 0 and "No drift" in out


def test_drift_names_each_hand_edit_and_exits_2(
    adopted: dict[str, str], local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["deploy", "legacy.py", "--yes"], capsys)[0] == 0
    ec2 = local_cloud.client("ec2")
    ec2.authorize_security_group_ingress(
        GroupId=adopted["app_sg"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3389,
                "ToPort": 3389,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    ec2.modify_vpc_attribute(VpcId=adopted["vpc"], EnableDnsHostnames={"Value": True})
    ec2.terminate_instances(InstanceIds=[adopted["web"]])
    rogue = ec2.run_instances(
        ImageId=adopted["image"],
        InstanceType="t3.nano",
        MinCount=1,
        MaxCount=1,
        SubnetId=adopted["public"],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "rogue box"}]}
        ],
    )["Instances"][0]["InstanceId"]

    with recording() as calls:
        code, out, err = run_cli(["drift", "legacy.py"], capsys)
    assert code == 2, out + err
    assert calls.mutating() == [], "drift is read-only"
    assert f"~ App  aws.ec2.SecurityGroup  {adopted['app_sg']}" in out
    assert "+ tcp 3389 from 0.0.0.0/0  (added outside infradsl)" in out
    assert "enable_dns_hostnames: false -> true  (changed outside infradsl)" in out
    assert f"- Web  aws.ec2.Instance  {adopted['web']}  (deleted outside infradsl)" in out
    assert f'? {rogue}  aws.ec2.Instance "rogue box" in {adopted["vpc"]}' in out
    assert f"import it: infradsl import --id {rogue} --region us-east-1 -o rogue_box.py" in out
    assert "IaC coverage: 14 of 15 resources in scope are managed by infradsl (93.3%)" in out
    assert "Drift: 2 changed, 1 deleted outside infradsl, 1 unmanaged." in out

    code, out, _ = run_cli(["drift", "legacy.py", "--json"], capsys)
    assert code == 2
    (report,) = json.loads(out)
    assert report["stack"] == "legacy" and report["drifted"] is True
    changed = {c["path"]: c for c in report["changed"]}
    (ingress,) = changed["App"]["properties"]
    assert ingress["name"] == "ingress"
    assert ingress["added"] == [
        {"protocol": "tcp", "from_port": 3389, "to_port": 3389, "source": "0.0.0.0/0"}
    ]
    (dns,) = changed["Legacy"]["properties"]
    assert (dns["name"], dns["recorded"], dns["live"]) == ("enable_dns_hostnames", False, True)
    assert report["deleted"] == [
        {"path": "Web", "type": "aws.ec2.Instance", "physical_id": adopted["web"]}
    ]
    (stray,) = report["unmanaged"]
    assert stray["physical_id"] == rogue and stray["import_command"].startswith("infradsl import")
    assert report["coverage"] == {"managed": 14, "total": 15, "percent": 93.3}
