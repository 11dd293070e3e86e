"""Deletes follow the rules of real AWS, which the local cloud does not enforce.

moto lets you delete a security group still referenced by another group or used by an
instance, a subnet with a running instance, and a VPC with an attached internet gateway;
AWS refuses all of these. The tests assert the order from the recorded API calls.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli

ROOT = Path(__file__).resolve().parents[2]

# operation -> the parameter holding the id it deletes
DELETES = {
    "DeleteVpc": "VpcId",
    "DeleteSubnet": "SubnetId",
    "DeleteSecurityGroup": "GroupId",
    "DeleteInternetGateway": "InternetGatewayId",
    "TerminateInstances": "InstanceIds",
    "DeleteNatGateway": "NatGatewayId",
    "ReleaseAddress": "AllocationId",
    "DeleteRouteTable": "RouteTableId",
    "DeleteRole": "RoleName",
    "DeletePolicy": "PolicyArn",
    "DeleteInstanceProfile": "InstanceProfileName",
    "DeleteSecret": "SecretId",
}


@pytest.fixture
def deployed(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    shutil.copy(ROOT / "examples" / "webapp" / "app.py", tmp_path / "app.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    state: dict[str, Any] = json.loads((tmp_path / "state" / "local" / "webapp.json").read_text())
    return state


def _delete_positions(
    calls: list[tuple[str, str, dict[str, Any]]], by_id: dict[str, str]
) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, (_service, operation, params) in enumerate(calls):
        key = DELETES.get(operation)
        if key is None:
            continue
        ids = params[key] if isinstance(params[key], list) else [params[key]]
        for physical_id in ids:
            if physical_id in by_id:
                positions.setdefault(by_id[physical_id], index)
    return positions


def _assert_dependents_deleted_first(state: dict[str, Any], positions: dict[str, int]) -> None:
    resources = state["resources"]
    for path, position in positions.items():
        for other, entry in resources.items():
            if path in entry["depends_on"] and other in positions:
                assert positions[other] < position, (
                    f"{path} was deleted (call {position}) while {other}, which depends on "
                    f"it, still existed (deleted at call {positions[other]})"
                )


def test_destroy_deletes_dependents_first_and_detaches_the_gateway(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    resources = deployed["resources"]
    by_id = {r["physical_id"]: p for p, r in resources.items()}
    with recording() as calls:
        code, out, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    ops = [o for _s, o, _p in calls.calls]
    positions = _delete_positions(calls.calls, by_id)
    assert set(positions) == set(resources), "every resource is deleted through its API"
    _assert_dependents_deleted_first(deployed, positions)

    assert ops.index("DetachInternetGateway") < positions["Net/Vpc"]
    assert ops.index("DetachInternetGateway") < positions["Net/Igw"]
    for instance in ("Web", "Db"):
        subnet_path = {"Web": "Net/PublicA", "Db": "Net/PrivateA"}[instance]
        group_path = {"Web": "WebSg", "Db": "DbSg"}[instance]
        assert positions[instance] < positions[subnet_path]
        assert positions[instance] < positions[group_path]
    assert positions["DbSg"] < positions["WebSg"], "DbSg admits WebSg: it goes first"
    assert positions["Net/Nat"] < positions["Net/PublicA"]
    assert positions["Net/PrivateRoutes"] < positions["Net/Nat"]


def test_a_replacement_deletes_the_old_instance_only_after_everything_else(
    deployed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app.py"
    app.write_text(app.read_text().replace('instance_type="t3.medium"', 'instance_type="t3.large"'))
    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    ops = [o for _s, o, _p in calls.mutating()]
    # Db is replaced; Web reads Db's address in its user data and is replaced too.
    assert ops.count("RunInstances") == 2
    assert ops.index("TerminateInstances") > max(
        i for i, o in enumerate(ops) if o == "RunInstances"
    )
    terminated = [p["InstanceIds"][0] for _s, o, p in calls.calls if o == "TerminateInstances"]
    old = {deployed["resources"][p]["physical_id"] for p in ("Web", "Db")}
    assert set(terminated) == old
    # Web (which depends on Db) goes before Db.
    assert terminated.index(deployed["resources"]["Web"]["physical_id"]) < terminated.index(
        deployed["resources"]["Db"]["physical_id"]
    )
