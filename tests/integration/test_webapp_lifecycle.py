"""End to end through the CLI on the local cloud with the webapp example."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli, snapshot, tagged_count

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the webapp example in a temp dir with its own state directory."""
    shutil.copy(ROOT / "examples" / "webapp" / "app.py", tmp_path / "app.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    return tmp_path


def test_deploy_prints_outputs_and_a_second_deploy_changes_nothing(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert "Plan: 18 to create, 0 to update, 0 to replace, 0 to delete." in out
    assert "Outputs of webapp" in out and "WebIp" in out and "VpcId" in out
    state = json.loads((project / "state" / "local" / "webapp.json").read_text())
    assert len(state["resources"]) == 18
    assert state["outputs"]["VpcId"].startswith("vpc-")

    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert "No changes. The cloud matches the code." in out
    assert "Outputs of webapp" in out and state["outputs"]["VpcId"] in out
    assert calls.mutating() == [], "a deploy with no changes makes no mutating call"

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0 and "No changes" in out


def test_changing_the_image_replaces_the_instance_creating_the_new_one_first(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    old_id = json.loads((project / "state" / "local" / "webapp.json").read_text())["resources"][
        "Web"
    ]["physical_id"]
    app = project / "app.py"
    app.write_text(app.read_text().replace('image="ami-12345678"', 'image="ami-87654321"'))

    code, out, _ = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 2
    assert "-/+ Web" in out and "'image' forces replacement" in out
    assert 'image: "ami-12345678" -> "ami-87654321"  (forces replacement)' in out
    assert "Plan: 0 to create, 0 to update, 1 to replace, 0 to delete." in out

    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    ops = [(o, p) for s, o, p in calls.calls if o in ("RunInstances", "TerminateInstances")]
    assert [o for o, _ in ops] == ["RunInstances", "TerminateInstances"]
    assert ops[1][1]["InstanceIds"] == [old_id]
    state = json.loads((project / "state" / "local" / "webapp.json").read_text())
    assert state["resources"]["Web"]["physical_id"] != old_id
    assert "Web#old" not in state["resources"]
    images = {i for (_id, i, _s) in snapshot(local_cloud, "webapp")["instances"]}
    assert images == {"ami-87654321", "ami-0a1b2c3d4e5f60718"}


def test_destroy_leaves_no_resource_carrying_the_stack_tag(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    assert tagged_count(snapshot(local_cloud, "webapp")) == 18
    code, out, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert tagged_count(snapshot(local_cloud, "webapp")) == 0
    assert not (project / "state" / "local" / "webapp.json").exists()
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, "deploying again after a destroy works (new names)\n" + out + err


def test_destructive_changes_are_refused_without_a_terminal_or_yes(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(["deploy", "app.py"], capsys)
    assert code == 1
    assert "refusing to deploy without confirmation" in err
    assert tagged_count(snapshot(local_cloud, "webapp")) == 0


def test_history_records_each_deployment(
    project: Path, local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    code, out, _ = run_cli(["history"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "deploy" in lines[0] and "18 create" in lines[0] and "  ok  plan " in lines[0]
    assert re.search(r"  plan [0-9a-f]{12}$", lines[0]), lines[0]
    assert "  no changes  plan " in lines[1]


def test_the_state_location_can_be_set_in_the_app(
    project: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("INFRADSL_STATE")
    local_cloud.client("s3").create_bucket(Bucket="app-state")
    app = project / "app.py"
    app.write_text(app.read_text().replace("app = App()", 'app = App(state="s3://app-state/web")'))
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    keys = [
        o["Key"] for o in local_cloud.client("s3").list_objects_v2(Bucket="app-state")["Contents"]
    ]
    assert "web/local/webapp.json" in keys
    assert not (project / ".infradsl").exists()
