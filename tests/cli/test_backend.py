"""The state commands find the state where the app keeps it (``App(state=...)``), as deploy
does; ``--state`` and ``INFRADSL_STATE`` come first."""

from __future__ import annotations

from pathlib import Path

import pytest

from infradsl.cli.main import main
from infradsl.state.backend import LockInfo
from infradsl.state.local import LocalBackend
from infradsl.state.model import ResourceState, StackState
from infradsl.testing.plugin import LocalCloudFixture

APP = """\
from infradsl import App, Stack
from infradsl.aws import ec2

app = App(state={location!r})
stack = Stack(app, "web", region="us-east-1")
ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
"""


def state(stack: str, serial: int, resources: int = 1) -> StackState:
    """A state of ``resources`` VPCs."""
    return StackState(
        stack=stack,
        target="local",
        region="us-east-1",
        serial=serial,
        lineage="L1",
        resources={
            f"Vpc{i}": ResourceState("aws.ec2.Vpc", f"vpc-{serial}-{i}", {}, {}, {})
            for i in range(resources)
        },
    )


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app keeping its state in ``team-state`` next to it; the working directory is
    another folder, with no ``.infradsl``."""
    monkeypatch.delenv("INFRADSL_STATE", raising=False)
    monkeypatch.delenv("INFRADSL_TARGET", raising=False)
    (tmp_path / "app.py").write_text(APP.format(location=str(tmp_path / "team-state")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path


def test_state_list_finds_the_state_the_app_keeps_elsewhere(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    LocalBackend(project / "team-state", "local").write(state("web", 2, resources=3))
    app = str(project / "app.py")
    code, out, _ = run(["state", "list", "--app", app], capsys)
    assert (code, out) == (0, "web  us-east-1  3 resources  serial 2\n")
    code, out, _ = run(["state", "list"], capsys)
    assert (code, out) == (
        0,
        "no state for target 'local' in .infradsl/state/local (pass --app APP to look where "
        "the app keeps its state)\n",
    )


def test_the_command_line_state_comes_before_the_apps(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    LocalBackend(project / "team-state", "local").write(state("web", 2))
    LocalBackend(project / "cli-state", "local").write(state("cli", 1))
    app = str(project / "app.py")
    code, out, _ = run(
        ["--state", str(project / "cli-state"), "state", "list", "--app", app], capsys
    )
    assert (code, out.split()[0]) == (0, "cli")
    monkeypatch.setenv("INFRADSL_STATE", str(project / "cli-state"))
    code, out, _ = run(["state", "list", "--app", app], capsys)
    assert (code, out.split()[0]) == (0, "cli")


def test_show_history_unlock_and_restore_use_the_apps_state(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for serial in (1, 2):  # two runs: the first is kept as a version
        LocalBackend(project / "team-state", "local").write(state("web", serial, resources=serial))
    backend = LocalBackend(project / "team-state", "local")
    backend.append_history(
        "web",
        {
            "time": "2026-11-26T10:00:00Z",
            "operation": "deploy",
            "user": "bob",
            "result": "ok",
            "summary": {"create": 2},
        },
    )
    holder = LockInfo.new("deploy")
    backend.lock("web", holder)
    app = ["--app", str(project / "app.py")]
    code, out, _ = run(["state", "show", "web", *app], capsys)
    assert code == 0 and "Vpc1" in out and "vpc-2-1" in out
    code, out, _ = run(["state", "history", "web", *app], capsys)
    assert code == 0 and out.startswith("serial     2  current")
    code, out, _ = run(["history", *app], capsys)
    assert code == 0 and "  web  deploy  bob  no git  2 create  ok" in out
    code, out, _ = run(["state", "unlock", holder.id, *app], capsys)
    assert code == 0 and out.startswith("unlocked web")
    code, out, _ = run(["state", "restore", "web", "1", "--yes", *app], capsys)
    assert code == 0, out
    restored = LocalBackend(project / "team-state", "local").read("web")
    assert restored is not None and restored.serial == 3 and len(restored.resources) == 1


def test_an_app_that_cannot_be_loaded_is_an_error_naming_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["state", "list", "--app", str(project / "missing.py")], capsys)
    assert code == 1 and "missing.py' not found" in err


def test_state_list_finds_what_a_deploy_placed_where_the_app_says(
    project: Path, local_cloud: LocalCloudFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    app = str(project / "app.py")
    code, out, err = run(["deploy", app, "--yes"], capsys)
    assert code == 0, out + err
    code, out, _ = run(["state", "list", "--app", app], capsys)
    assert code == 0 and out.startswith("web  us-east-1  1 resource  serial ")
    deployed = LocalBackend(project / "team-state", "local").read("web")
    assert isinstance(deployed, StackState)
    assert isinstance(deployed.resources["Vpc"], ResourceState)
    assert not (project / "elsewhere" / ".infradsl").exists()
