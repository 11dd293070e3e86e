"""State is trusted only when it is the stack's own, and failures outside the cloud calls
(a dead endpoint, an unknown type, a full disk) get clear errors and the right exit code.

Each test reproduces a failure found by an adversarial run of the earlier engine: a copied
state file made deploy delete another stack's resources, a changed region made duplicates,
a dead endpoint and an unknown type gave tracebacks, a full disk gave exit 1 although
resources had been created.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import owned, recording, run_cli, webapp_project

from infradsl.local.server import free_port
from infradsl.state.backend import StateError
from infradsl.state.local import LocalBackend


def _state_file(folder: Path, stack: str = "webapp") -> Path:
    return folder / "state" / "local" / f"{stack}.json"


def _edit(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _refused_without_any_call(
    args: list[str], capsys: pytest.CaptureFixture[str], expected: str
) -> str:
    with recording() as calls:
        code, out, err = run_cli(args, capsys)
    assert code == 1, out + err
    assert expected in err, err
    assert "nothing was changed" in err
    assert "Traceback" not in out + err
    assert calls.mutating() == []
    return err


def test_a_state_copied_from_another_stack_is_refused_before_any_call(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = webapp_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    before = owned(local_cloud, "webapp")
    # A second app whose stack is "other", given a copy of webapp's state file.
    app = folder / "app.py"
    app.write_text(app.read_text().replace('"webapp"', '"other"'))
    shutil.copy(_state_file(folder), _state_file(folder, "other"))
    for command in ("deploy", "destroy", "plan"):
        extra = [] if command == "plan" else ["--yes"]
        _refused_without_any_call(
            [command, "app.py", *extra], capsys, "it is the state of stack 'webapp', not 'other'"
        )
    assert owned(local_cloud, "webapp") == before


def test_a_stack_whose_region_changed_is_refused_instead_of_duplicated(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = webapp_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    app = folder / "app.py"
    text = app.read_text()
    assert 'region="us-east-1"' in text
    app.write_text(text.replace('region="us-east-1"', 'region="eu-west-1"'))
    err = _refused_without_any_call(
        ["deploy", "app.py", "--yes"], capsys, "its resources are in us-east-1"
    )
    assert "a stack does not move regions" in err
    regional = [r for r in owned(local_cloud, "webapp", region="eu-west-1") if "iam" not in r[0]]
    assert regional == []  # IAM is global: listed in every region


def test_a_state_written_for_another_target_is_refused(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = webapp_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    _edit(_state_file(folder), target="aws")
    _refused_without_any_call(
        ["deploy", "app.py", "--yes"], capsys, "it was written for target 'aws', not 'local'"
    )


def test_an_unknown_type_in_state_is_a_clear_error_not_a_traceback(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = webapp_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    path = _state_file(folder)
    data = json.loads(path.read_text())
    data["resources"]["Net/Vpc"]["type"] = "aws.ec2.Teleporter"
    path.write_text(json.dumps(data))
    for args in (["plan", "app.py"], ["deploy", "app.py", "--yes"]):
        _refused_without_any_call(args, capsys, "Net/Vpc (aws.ec2.Teleporter)")


def test_a_dead_endpoint_at_start_up_is_reported_before_anything_is_tried(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = webapp_project(tmp_path, monkeypatch)
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    code, out, err = run_cli(["--target", "aws", "deploy", "app.py", "--yes"], capsys)
    assert code == 1, out + err
    assert f'cannot reach AWS (us-east-1): Could not connect to the endpoint URL: "{dead}/"' in err
    assert "nothing was changed" in err and "Traceback" not in err
    assert not (folder / "state" / "aws" / "webapp.json").exists()


def test_a_full_disk_in_the_middle_of_a_deploy_exits_4_and_the_next_run_converges(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = webapp_project(tmp_path, monkeypatch)
    real_write = LocalBackend.write
    writes = [0]

    def write(self: LocalBackend, state: Any) -> None:
        writes[0] += 1
        if writes[0] > 12:
            raise StateError(f"could not write {self.location}: [Errno 28] No space left")
        real_write(self, state)

    monkeypatch.setattr(LocalBackend, "write", write)
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 4, out + err
    assert "state could not be written" in out
    assert "No space left" in out and "Traceback" not in out + err
    monkeypatch.setattr(LocalBackend, "write", real_write)  # space freed
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    state = json.loads(_state_file(folder).read_text())
    tracked = {r["physical_id"] for r in state["resources"].values()}
    live = owned(local_cloud, "webapp")
    assert {i for _t, i, _p in live} == tracked and len(live) == 18
    assert run_cli(["destroy", "app.py", "--yes"], capsys)[0] == 0
    assert owned(local_cloud, "webapp") == []
