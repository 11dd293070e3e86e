"""``infradsl state history`` and ``infradsl state restore``, on local files and on S3."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from backend_conformance import state

from infradsl.cli.main import main
from infradsl.state.backend import LockInfo
from infradsl.state.local import LocalBackend
from infradsl.testing.plugin import LocalCloudFixture


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def deployed(tmp_path: Path) -> LocalBackend:
    for serial in range(1, 5):  # four runs
        backend = LocalBackend(tmp_path, "aws")
        backend.write(state("web", serial, resources=serial))
    return backend


def test_state_history_lists_the_current_state_and_the_kept_versions(
    tmp_path: Path, deployed: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "history", "web"], capsys
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "serial     4  current              4 resources"
    assert [line[:12] for line in lines[1:4]] == ["serial     3", "serial     2", "serial     1"]
    assert lines[1].endswith("  3 resources") and lines[3].endswith("  1 resource")
    assert lines[-1] == "restore one with `infradsl state restore web SERIAL`"


def test_state_history_of_an_unknown_stack_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "history", "nope"], capsys
    )
    assert code == 1
    assert "stack 'nope' has no state on target 'aws'" in err


def test_state_restore_without_a_terminal_refuses_unless_yes(
    tmp_path: Path,
    deployed: LocalBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    args = ["--target", "aws", "--state", str(tmp_path), "state", "restore", "web", "2"]
    code, _, err = run(args, capsys)
    assert code == 1
    assert (
        "refusing to restore state without confirmation: no terminal to ask on. "
        "Pass --yes to restore anyway"
    ) in err
    assert LocalBackend(tmp_path, "aws").read("web") == state("web", 4, resources=4)

    code, out, _ = run([*args, "--yes"], capsys)
    assert code == 0
    assert out.startswith(
        "restoring web to serial 2 (2 resources), replacing the current state (serial 4, "
        "4 resources)\nrestored web: serial 5 is version 2 (2 resources)"
    )
    assert LocalBackend(tmp_path, "aws").read("web") == attrs.evolve(
        state("web", 2, resources=2), serial=5
    )
    assert LocalBackend(tmp_path, "aws").lock_holder("web") is None


def test_state_restore_asks_on_a_terminal_and_no_changes_nothing(
    tmp_path: Path,
    deployed: LocalBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    args = ["--target", "aws", "--state", str(tmp_path), "state", "restore", "web", "1"]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert out.endswith("state not changed\n")
    assert LocalBackend(tmp_path, "aws").read("web") == state("web", 4, resources=4)

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "restored web: serial 5 is version 1 (1 resource)" in out


def test_state_restore_repairs_a_corrupt_state_and_keeps_the_damaged_file(
    tmp_path: Path, deployed: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "aws" / "web.json").write_text('{"infradsl_state": 1, "stack": "we')
    code, out, _ = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "history", "web"], capsys
    )
    assert code == 0
    assert out.startswith("current state: CORRUPT (state file ")
    code, out, _ = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "restore", "web", "3", "--yes"],
        capsys,
    )
    assert code == 0
    assert "replacing the CORRUPT current state (it is set aside next to the versions)" in out
    assert LocalBackend(tmp_path, "aws").read("web") == attrs.evolve(
        state("web", 3, resources=3), serial=4
    )
    aside = list((tmp_path / "aws" / ".versions" / "web").glob("corrupt-*.json"))
    assert [p.read_text() for p in aside] == ['{"infradsl_state": 1, "stack": "we']


def test_state_commands_use_s3_state_in_the_local_cloud_for_the_local_target(
    local_cloud: LocalCloudFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    local_cloud.client("s3").create_bucket(Bucket="team-state")
    base = ["--target", "local", "--state", "s3://team-state/prod"]
    from infradsl.state.factory import open_backend

    backend = open_backend("s3://team-state/prod", "local", endpoint_url=local_cloud.endpoint)
    backend.write(state("web", 1, resources=1))
    backend.write(state("web", 2, resources=2))
    code, out, _ = run([*base, "state", "list"], capsys)
    assert code == 0
    assert out.startswith("web  us-east-1  2 resources  serial 2")
    code, out, _ = run([*base, "state", "history", "web"], capsys)
    assert out.splitlines()[:2][0] == "serial     2  current              2 resources"
    code, out, _ = run([*base, "state", "restore", "web", "1", "--yes"], capsys)
    assert code == 0
    assert backend.read("web") == attrs.evolve(state("web", 1), serial=3)


def test_state_list_of_a_missing_s3_bucket_says_how_to_create_it(
    local_cloud: LocalCloudFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--target", "local", "--state", "s3://nope", "state", "list"], capsys)
    assert code == 1
    assert (
        f"the state bucket 'nope' does not exist in the local cloud at {local_cloud.endpoint}: "
        f"create it with `aws --endpoint-url {local_cloud.endpoint} s3 mb s3://nope`"
    ) in err


def test_state_unlock_clears_the_lock_of_a_stack_that_has_no_state_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = LockInfo.new("deploy")
    LocalBackend(tmp_path, "aws").lock("fresh", holder)  # a first deploy, still running
    code, out, err = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "unlock", holder.id], capsys
    )
    assert code == 0, err
    assert out.endswith(
        f"unlocked fresh (was held by {holder.user}@{holder.host}, pid {holder.pid}, deploy)\n"
    )
    assert LocalBackend(tmp_path, "aws").lock_holder("fresh") is None
    code, _, err = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "unlock", holder.id], capsys
    )
    assert code == 1
    assert f"no lock with id {holder.id!r} on target 'aws' in {tmp_path / 'aws'}" in err


def test_state_list_shows_locked_stacks_without_state_and_stale_locks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    LocalBackend(tmp_path, "aws").write(state("web", 1))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    gone = attrs.evolve(LockInfo.new("deploy"), pid=int(dead.stdout))
    (tmp_path / "aws" / "web.lock").write_text(json.dumps(gone.to_json()))
    live = LockInfo.new("deploy")
    LocalBackend(tmp_path, "aws").lock("fresh", live)
    code, out, _ = run(["--target", "aws", "--state", str(tmp_path), "state", "list"], capsys)
    assert code == 0
    assert out.splitlines() == [
        f"fresh  (no state yet)  locked by {live.user}@{live.host} ({live.id})",
        f"web  us-east-1  1 resource  serial 1  lock left by a dead run ({gone.id}): "
        "the next run takes it over",
    ]


OUTSIDE = LockInfo.new("deploy")


@pytest.mark.parametrize(
    "command",
    [
        ["state", "show", "../../x"],
        ["state", "history", "../../x"],
        ["state", "restore", "../../x", "1", "--yes"],
        ["state", "unlock", OUTSIDE.id, "--stack", "../../x"],
        ["history", "--stack", "../../x"],
    ],
)
def test_state_commands_refuse_a_stack_name_that_is_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # What `<state>/aws/../../x.json` and `.lock` reach: files outside the state folder.
    (tmp_path / "state" / "aws").mkdir(parents=True)
    (tmp_path / "x.json").write_text(json.dumps(state("x", 1).to_json()))
    (tmp_path / "x.lock").write_text(json.dumps(OUTSIDE.to_json()))
    code, out, err = run(["--target", "aws", "--state", str(tmp_path / "state"), *command], capsys)
    assert code == 1
    assert "invalid stack name '../../x': a stack name is letters, digits" in err
    assert out == "" and "Traceback" not in err
    assert (tmp_path / "x.lock").exists()


APP = """
from infradsl import App, Stack
from infradsl.aws import ec2

app = App()
stack = Stack(app, "hello", region="us-east-1")
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
"""


def test_a_corrupt_state_is_repaired_from_the_state_the_last_deploy_ended_with(
    tmp_path: Path,
    local_cloud: LocalCloudFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The documented repair path ends with an empty plan."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(APP)
    base = ["--state", str(tmp_path / "state")]
    assert run([*base, "deploy", "app.py", "--yes"], capsys)[0] == 0
    (tmp_path / "app.py").write_text(APP.replace('"10.0.1.0/24"', '"10.0.2.0/24"'))
    code, out, err = run([*base, "deploy", "app.py", "--yes"], capsys)  # replaces Public
    assert code == 0, out + err
    last = LocalBackend(tmp_path / "state", "local").read("hello")
    assert last is not None
    (tmp_path / "state" / "local" / "hello.json").write_text('{"infradsl_state": 1, "sta')

    code, out, err = run([*base, "plan", "app.py"], capsys)
    assert code == 1 and "is corrupt" in err
    code, out, _ = run([*base, "state", "history", "hello"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("current state: CORRUPT (state file ")
    assert lines[1].startswith(f"serial {last.serial:>5}  ") and lines[1].endswith("2 resources")
    assert lines[-1] == (
        f"restore the newest with `infradsl state restore hello {last.serial}`, "
        "then run `infradsl plan`"
    )
    code, out, err = run([*base, "state", "restore", "hello", str(last.serial), "--yes"], capsys)
    assert code == 0, out + err
    code, out, err = run([*base, "plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0, out + err
    assert "No changes. The cloud matches the code." in out


def test_state_restore_takes_over_the_lock_of_a_dead_run_and_says_so(
    tmp_path: Path, deployed: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = attrs.evolve(LockInfo.new("deploy"), pid=2**22 + 7)  # above any pid_max
    (tmp_path / "aws" / "web.lock").write_text(json.dumps(dead.to_json()))
    code, out, err = run(
        ["--target", "aws", "--state", str(tmp_path), "state", "restore", "web", "2", "--yes"],
        capsys,
    )
    assert code == 0, err
    assert "note: web: took over the lock of a run that is no longer running (deploy by " in err
    assert f"pid {dead.pid}, since " in err
    assert "restored web: serial 5 is version 2" in out
    assert LocalBackend(tmp_path, "aws").lock_holder("web") is None
