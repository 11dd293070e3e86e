"""``infradsl state history`` and ``infradsl state restore``, on local files and on S3."""

from __future__ import annotations

import io
from pathlib import Path

import attrs
import pytest
from backend_conformance import state

from infradsl.cli.main import main
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
