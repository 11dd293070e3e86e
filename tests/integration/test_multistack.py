"""The multi-stack example on the local cloud: a network and an app stack in each of two
regions. A replaced network resource is propagated to the app that uses it in the same
run; destroys go apps first; a network is not destroyed under its app.

moto does not refuse deleting a subnet that still holds an instance (AWS does, with
DependencyViolation), so the order is asserted from the recorded API calls.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "multistack" / "app.py"
STACKS = ("network-east", "app-east", "network-west", "app-west")

pytestmark = pytest.mark.slow


def _state(folder: Path, stack: str) -> dict[str, Any] | None:
    path = folder / "state" / "local" / f"{stack}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ids(folder: Path) -> dict[str, str]:
    """``stack/path`` -> physical id of every deployed resource."""
    ids: dict[str, str] = {}
    for stack in STACKS:
        state = _state(folder, stack)
        assert state is not None, f"{stack} is not deployed"
        for path, resource in state["resources"].items():
            ids[f"{stack}/{path}"] = resource["physical_id"]
    return ids


def _position(calls: list[tuple[str, str, dict[str, Any]]], operation: str, value: str) -> int:
    """Index of the first call of ``operation`` whose parameters name ``value``."""
    for index, (_service, op, params) in enumerate(calls):
        if op == operation and value in json.dumps(params, default=str):
            return index
    raise AssertionError(f"no {operation} call for {value}")


@pytest.fixture
def deployed(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    shutil.copy(EXAMPLE, tmp_path / "app.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    ids = _ids(tmp_path)
    for region, stack in (("us-east-1", "app-east"), ("us-west-2", "app-west")):
        ec2 = local_cloud.client("ec2", region)
        (instance,) = [
            i
            for r in ec2.describe_instances(InstanceIds=[ids[f"{stack}/Web"]])["Reservations"]
            for i in r["Instances"]
        ]
        network = stack.replace("app", "network")
        assert instance["SubnetId"] == ids[f"{network}/Public"]
    return tmp_path


def _replace_the_east_subnet(folder: Path) -> None:
    app = folder / "app.py"
    app.write_text(app.read_text().replace('"10.10.1.0/24"', '"10.10.2.0/24"'))


def test_a_replaced_subnet_is_propagated_to_the_app_in_the_same_run(
    deployed: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _ids(deployed)
    _replace_the_east_subnet(deployed)

    code, out, err = run_cli(["plan", "app.py", "--json"], capsys)
    assert code == 0, out + err
    plans = {p["stack"]: p for p in json.loads(out)}
    assert [p["stack"] for p in json.loads(out)] == list(STACKS)
    east = {c["path"]: c for c in plans["app-east"]["changes"]}
    assert east["Web"]["action"] == "replace"
    assert east["Web"]["reasons"][0] == "'subnet' refers to network-east/Public, which is replaced"
    assert {c["path"]: c["action"] for c in plans["network-east"]["changes"]}["Public"] == (
        "replace"
    )
    assert plans["network-west"]["changes"] == plans["app-west"]["changes"] == []

    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    after = _ids(deployed)
    assert after["network-east/Public"] != before["network-east/Public"]
    assert after["app-east/Web"] != before["app-east/Web"]
    mutating = calls.mutating()
    # The new subnet, then an instance in it, then the old instance, then the old subnet.
    created_subnet = _position(mutating, "CreateSubnet", "10.10.2.0/24")
    run_instance = _position(mutating, "RunInstances", after["network-east/Public"])
    terminated = _position(mutating, "TerminateInstances", before["app-east/Web"])
    deleted_subnet = _position(mutating, "DeleteSubnet", before["network-east/Public"])
    assert created_subnet < run_instance < terminated < deleted_subnet
    # The west region was not touched.
    west = [v for k, v in before.items() if k.endswith("-west") or "-west/" in k]
    assert not any(pid in json.dumps(p, default=str) for _s, _o, p in mutating for pid in west)

    ec2 = local_cloud.client("ec2", "us-east-1")
    (instance,) = [
        i
        for r in ec2.describe_instances(InstanceIds=[after["app-east/Web"]])["Reservations"]
        for i in r["Instances"]
    ]
    assert instance["SubnetId"] == after["network-east/Public"]
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [after["network-east/Vpc"]]}]
    )
    assert [s["CidrBlock"] for s in subnets["Subnets"]] == ["10.10.2.0/24"]

    code, out, err = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0, out + err
    assert out.count("No changes.") == len(STACKS)


def test_destroy_removes_each_app_before_its_network(
    deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _ids(deployed)
    with recording() as calls:
        code, out, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    mutating = calls.mutating()
    for region in ("east", "west"):
        app, network = f"app-{region}", f"network-{region}"
        web = _position(mutating, "TerminateInstances", ids[f"{app}/Web"])
        group = _position(mutating, "DeleteSecurityGroup", ids[f"{app}/WebSg"])
        assert web < _position(mutating, "DeleteSubnet", ids[f"{network}/Public"])
        assert group < _position(mutating, "DeleteVpc", ids[f"{network}/Vpc"])
    assert all(_state(deployed, stack) is None for stack in STACKS)

    code, out, err = run_cli(["plan", "app.py", "--json"], capsys)
    assert code == 0, out + err
    assert all(p["summary"]["create"] > 0 for p in json.loads(out))


def test_destroying_a_network_under_its_app_is_refused(
    deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _ids(deployed)
    with recording() as calls:
        code, out, err = run_cli(["destroy", "app.py", "--stack", "network-east", "--yes"], capsys)
    assert code == 1, out + err
    message = " ".join(err.split())
    assert (
        "error: refused, nothing was changed: destroying 'network-east' would delete "
        "resources that 'app-east' still uses: "
    ) in message
    assert (
        f"network-east/Public ({ids['network-east/Public']}) is used by app-east/Web "
        "(reads Public.id)"
    ) in message
    assert "destroy 'app-east' first (`infradsl destroy app.py --stack app-east`)" in message
    assert "--debug" not in message
    assert calls.mutating() == []
    assert _state(deployed, "network-east") is not None

    # The app first, then its network: allowed, and the plan shows both gone.
    for stack in ("app-east", "network-east"):
        code, out, err = run_cli(["destroy", "app.py", "--stack", stack, "--yes"], capsys)
        assert code == 0, out + err
    code, out, err = run_cli(["plan", "app.py", "--json"], capsys)
    assert code == 0, out + err
    plans = {p["stack"]: p for p in json.loads(out)}
    assert plans["network-west"]["changes"] == plans["app-west"]["changes"] == []
    assert plans["network-east"]["summary"]["create"] == 4
