"""The synth, graph and check commands, and how the CLI reports a broken app file."""

from __future__ import annotations

from pathlib import Path

import pytest

from infradsl.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
WEBAPP = ROOT / "examples" / "webapp" / "app.py"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_graph_tree_shows_components_types_and_dependencies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["graph", str(WEBAPP)], capsys)
    assert code == 0
    assert out.startswith("webapp (us-east-1)\n├── Net\n│   ├── Vpc  [aws.ec2.Vpc]\n")
    assert "│   ├── Igw  [aws.ec2.InternetGateway]  <- Net/Vpc\n" in out


def test_graph_dot_draws_edges_in_deploy_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["graph", str(WEBAPP), "--format", "dot"], capsys)
    assert code == 0
    assert out.startswith("digraph infradsl {")
    assert '"webapp/Net/Vpc" -> "webapp/Net/Igw";' in out


def test_graph_mermaid_is_a_flowchart(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["graph", str(WEBAPP), "--format", "mermaid"], capsys)
    assert code == 0
    assert out.startswith("flowchart LR\n")
    assert '["Net/Vpc<br/>aws.ec2.Vpc"]' in out
    assert " --> " in out


def test_an_unknown_stack_name_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["graph", str(WEBAPP), "--stack", "webap"], capsys)
    assert code == 1
    assert "no stack named 'webap'; the app has ['webapp'] (did you mean 'webapp'?)" in err


def test_a_missing_app_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["synth", str(tmp_path / "nope.py")], capsys)
    assert code == 1
    assert "nope.py' not found: pass the Python file that defines your stacks" in err
    assert "Traceback" not in err


def test_an_exception_in_the_app_names_the_user_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("from infradsl import App\n\napp = App()\nx = 1 / 0\n")
    code, _, err = run(["synth", "app.py"], capsys)
    assert code == 1
    assert "error: app.py:4: ZeroDivisionError: division by zero" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("from infradsl import App\n\napp = App()\nx = 1 / 0\n")
    code, _, err = run(["--debug", "synth", "app.py"], capsys)
    assert code == 1
    assert "Traceback" in err


def test_a_syntax_error_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("from infradsl import App\napp = App(\n")
    code, _, err = run(["synth", "app.py"], capsys)
    assert code == 1
    assert "app.py:2: syntax error:" in err


def test_a_file_without_an_app_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("x = 1\n")
    code, _, err = run(["synth", "app.py"], capsys)
    assert code == 1
    assert "app.py defines no App: create one with `app = App()`" in err


def test_an_app_without_stacks_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("from infradsl import App\napp = App()\n")
    code, _, err = run(["synth", "app.py"], capsys)
    assert code == 1
    assert "the app defines no Stack: create one with Stack(app, 'name')" in err


def test_synth_reports_where_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["synth", str(WEBAPP), "-o", "out"], capsys)
    assert code == 0
    assert out == "out/webapp.json  (18 resources)\n"
    assert (tmp_path / "out" / "webapp.json").exists()


CHECK_APP = """\
from infradsl import App, Stack
from infradsl.aws import ec2
app = App()
s = Stack(app, "demo")
vpc = ec2.Vpc(s, "Vpc", cidr_block="10.0.0.0/16")
ssh = ec2.SecurityGroup(s, "Ssh", vpc=vpc, ingress=[ec2.Rule.tcp(22, source="0.0.0.0/0")])
"""


def test_check_passes_the_webapp_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(WEBAPP)], capsys)
    assert code == 0
    assert "18 resources checked against 9 rules: 0 findings" in out


def test_check_fails_on_an_open_finding_and_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(CHECK_APP)
    code, out, _ = run(["check", "app.py"], capsys)
    assert code == 1
    assert "SG001" in out and "demo/Ssh" in out
    assert "1 finding" in out
    assert 'construct.node.acknowledge("RULE", reason="...")' in out


def test_an_acknowledged_finding_is_listed_as_such_and_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(
        CHECK_APP + 'ssh.node.acknowledge("SG001", reason="bastion: SSH is its purpose")\n'
    )
    code, out, _ = run(["check", "app.py"], capsys)
    assert code == 0
    assert "acknowledged" in out and "bastion: SSH is its purpose" in out
    assert "0 findings, 1 acknowledged" in out


def test_acknowledging_an_unknown_rule_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(
        CHECK_APP + 'ssh.node.acknowledge("SG01", reason="bastion: SSH is its purpose")\n'
    )
    code, _, err = run(["check", "app.py"], capsys)
    assert code == 1
    assert "demo/Ssh: acknowledges unknown rule 'SG01' (did you mean 'SG001'?)" in err
