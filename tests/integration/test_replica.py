"""The region-replica example on the local cloud: one command deploys the web application
to two regions, each with its own state, side by side, in well under a minute; ``--stack``
globs pick the replicas for plan and destroy."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import run_cli

from infradsl.providers.aws.clients import add_event_hook

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "replica" / "app.py"
REPLICAS = {"webapp-us-east-1": "us-east-1", "webapp-eu-west-1": "eu-west-1"}
# region -> the images of its web server and database (the example's per-region values)
IMAGES = {
    "us-east-1": ["ami-0a1b2c3d4e5f60718", "ami-12345678"],
    "eu-west-1": ["ami-0e1f2a3b4c5d6e7f8", "ami-0f9e8d7c6b5a49382"],
}

pytestmark = pytest.mark.slow


def _state(folder: Path, stack: str) -> dict[str, Any] | None:
    path = folder / "state" / "local" / f"{stack}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _instances(cloud: Any, region: str) -> list[dict[str, Any]]:
    reservations = cloud.client("ec2", region).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


class CallTimes:
    """When each replica's mutating calls were made (a call names its stack in its tags)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {stack: [] for stack in REPLICAS}
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        text = json.dumps(params, default=str)
        for stack in REPLICAS:
            if f'"{stack}"' in text:
                with self._lock:
                    self.times[stack].append(time.monotonic())


@pytest.fixture
def project(tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(EXAMPLE, tmp_path / "app.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    return tmp_path


def test_one_command_deploys_the_replicas_side_by_side_each_with_its_own_state(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = CallTimes()
    remove = add_event_hook("before-parameter-build", calls)
    started = time.monotonic()
    try:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    finally:
        remove()
    seconds = time.monotonic() - started
    assert code == 0, out + err
    assert seconds < 60, f"deploying two replicas took {seconds:.1f}s"

    for stack, region in REPLICAS.items():
        state = _state(project, stack)
        assert state is not None, f"{stack} has no state"
        assert state["region"] == region
        assert state["outputs"]["Region"] == region
        instances = _instances(local_cloud, region)
        assert sorted(i["ImageId"] for i in instances) == IMAGES[region]
        ids = {state["resources"][p]["physical_id"] for p in ("Web", "Db")}
        assert {i["InstanceId"] for i in instances} == ids
        zones = {i["Placement"]["AvailabilityZone"] for i in instances}
        assert zones == {f"{region}a"}
        tags = {t["Key"]: t["Value"] for t in instances[0]["Tags"]}
        assert tags["infradsl:stack"] == stack and tags["replica"] == region
        # Every progress line names its stack.
        assert f"✓ {stack}/Web created" in out
        assert f"✓ {stack}: deploy complete" in out

    # Side by side: each replica made calls before the other one's last call.
    east, west = (calls.times[s] for s in REPLICAS)
    assert east and west
    assert min(east) < max(west) and min(west) < max(east), "the replicas ran one after the other"

    # A glob picks one replica: nothing to change there.
    code, out, err = run_cli(
        ["plan", "app.py", "--stack", "webapp-eu-*", "--detailed-exitcode"], capsys
    )
    assert code == 0, out + err
    assert "webapp-eu-west-1" in out and "webapp-us-east-1" not in out


def test_destroy_with_a_glob_removes_only_the_replicas_it_matches(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err

    code, out, err = run_cli(["destroy", "app.py", "--stack", "*-eu-west-1", "--yes"], capsys)
    assert code == 0, out + err
    assert _instances(local_cloud, "eu-west-1") == []
    assert len(_instances(local_cloud, "us-east-1")) == 2
    assert _state(project, "webapp-eu-west-1") is None
    assert _state(project, "webapp-us-east-1") is not None

    code, out, err = run_cli(["destroy", "app.py", "--stack", "webapp-*", "--yes"], capsys)
    assert code == 0, out + err
    assert _instances(local_cloud, "us-east-1") == []
    assert _state(project, "webapp-us-east-1") is None

    code, out, err = run_cli(["destroy", "app.py", "--stack", "webapp-ap-*", "--yes"], capsys)
    assert code == 1
    assert "no stack matches 'webapp-ap-*'" in err
