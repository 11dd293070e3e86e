"""What a new user tripped on: global options after the command, the --debug hint under
--debug, history of destroyed stacks, "1 operations", and a progress bar past its end."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from infradsl.cli._deploy import _report
from infradsl.cli.main import main
from infradsl.cli.render import ProgressView
from infradsl.engine.events import Event
from infradsl.engine.executor import DeployResult, Status
from infradsl.engine.session import StackRun
from infradsl.plan.change import Action, Plan, ResourceChange
from infradsl.state.local import LocalBackend

ROOT = Path(__file__).resolve().parents[2]
WEBAPP = ROOT / "examples" / "webapp" / "app.py"
BROKEN_APP = "from infradsl import App\n\napp = App()\nx = 1 / 0\n"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_global_options_are_accepted_after_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["synth", str(WEBAPP), "-o", "out", "--target", "aws"], capsys)
    assert code == 0, err
    assert "out/webapp.json" in out
    code, _, err = run(["synth", str(WEBAPP), "--target=mars"], capsys)
    assert code == 1
    assert "Invalid value for '--target'" in err and "'mars' is not one of 'local', 'aws'" in err


def test_debug_shows_the_traceback_without_suggesting_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(BROKEN_APP)
    code, _, err = run(["synth", "app.py"], capsys)
    assert code == 1 and "(run with --debug for a traceback)" in err
    code, _, err = run(["synth", "app.py", "--debug"], capsys)
    assert code == 1
    assert "Traceback" in err
    assert "--debug" not in err


def test_history_lists_stacks_that_have_no_state_any_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = LocalBackend(tmp_path / "state", "local")
    record = {
        "time": "2026-11-26T10:00:00Z",
        "operation": "destroy",
        "user": "bob",
        "commit": None,
        "summary": {"delete": 3},
        "result": "ok",
    }
    backend.append_history("gone", record)
    backend.append_history(
        "failed-first", {**record, "operation": "deploy", "result": "rolled back"}
    )
    code, out, _ = run(["--state", str(tmp_path / "state"), "history"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("2026-11-26T10:00:00Z  failed-first  deploy  bob")
    assert lines[0].endswith("rolled back")
    assert lines[1] == "2026-11-26T10:00:00Z  gone  destroy  bob  no git  3 delete  ok"


def report(operations: int, changes: tuple[ResourceChange, ...]) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None)
    plan = Plan("demo", "us-east-1", changes)
    _report(console, [StackRun(plan, DeployResult(Status.OK, operations=operations))], "deploy")
    return buffer.getvalue()


def test_counts_of_operations_are_pluralised() -> None:
    one = (ResourceChange("Vpc", "aws.ec2.Vpc", Action.CREATE),)
    assert "deploy complete (1 operation)" in report(1, one)
    assert "deploy complete (2 operations)" in report(2, one)


def test_the_progress_count_never_passes_its_total_during_a_replacement() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    view = ProgressView(console, total=1)
    for kind, verb in (("start", "replace"), ("done", "replace")):
        view(Event(kind, "demo", "Web", verb, "aws.ec2.Instance"))
    assert (view.done, view.total) == (1, 1)
    for kind in ("start", "done"):
        view(Event(kind, "demo", "Web", "delete old", "aws.ec2.Instance"))
    assert (view.done, view.total) == (2, 2)


def test_state_history_of_a_stack_without_state_points_at_its_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = LocalBackend(tmp_path / "state", "local")
    backend.append_history("gone", {"time": "t", "operation": "deploy", "user": "u"})
    code, _, err = run(["--state", str(tmp_path / "state"), "state", "history", "gone"], capsys)
    assert code == 1
    assert "stack 'gone' has no state on target 'local'; its 1 recorded run:" in err
    assert "`infradsl history --stack gone`" in err
