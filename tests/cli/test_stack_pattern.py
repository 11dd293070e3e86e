"""``--stack`` takes a stack name or a glob (``webapp-*``) to pick the stacks of a command."""

from __future__ import annotations

from pathlib import Path

import pytest

from infradsl.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
REPLICA = ROOT / "examples" / "replica" / "app.py"
MULTISTACK = ROOT / "examples" / "multistack" / "app.py"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def synthesized(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.json"))


def test_a_glob_picks_every_stack_it_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["synth", str(REPLICA), "-o", str(tmp_path), "--stack", "webapp-*"], capsys)
    assert code == 0, err
    assert synthesized(tmp_path) == ["webapp-eu-west-1.json", "webapp-us-east-1.json"]


def test_a_glob_can_pick_one_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["synth", str(REPLICA), "-o", str(tmp_path), "--stack", "*-eu-*"], capsys)
    assert code == 0, err
    assert synthesized(tmp_path) == ["webapp-eu-west-1.json"]


def test_character_classes_and_single_characters_match_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["synth", str(MULTISTACK), "-o", str(tmp_path), "--stack", "[an]??-east"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    assert synthesized(tmp_path) == ["app-east.json"]


def test_a_glob_is_case_sensitive_like_stack_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["synth", str(REPLICA), "-o", str(tmp_path), "--stack", "WEBAPP-*"], capsys)
    assert code == 1
    assert synthesized(tmp_path) == []
    assert (
        "no stack matches 'WEBAPP-*'; the app has ['webapp-eu-west-1', 'webapp-us-east-1']: "
        "pass a name or a glob such as 'webapp-*'"
    ) in err
    assert "Traceback" not in err


def test_a_plain_name_still_picks_exactly_that_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["synth", str(MULTISTACK), "-o", str(tmp_path), "--stack", "app-west"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    assert synthesized(tmp_path) == ["app-west.json"]


def test_the_commands_that_take_a_stack_say_it_may_be_a_glob(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("plan", "deploy", "destroy", "drift"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0
        assert "glob" in out, command
