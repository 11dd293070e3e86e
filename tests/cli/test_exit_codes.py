"""The exit codes live in one table (`infradsl.cli._exit`), as DESIGN.md §4 lists them."""

from __future__ import annotations

import re
from pathlib import Path

import infradsl.cli
from infradsl.cli._exit import ExitCode, for_error, for_status
from infradsl.engine.executor import Status
from infradsl.state.backend import LockInfo, StateLockedError


def test_the_codes_are_those_of_the_design() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "BAD_INPUT": 1,
        "CHANGES": 2,
        "ROLLED_BACK": 3,
        "INCOMPLETE": 4,
        "LOCKED": 5,
        "INTERRUPTED": 130,
    }


def test_every_deploy_status_has_an_exit_code() -> None:
    assert {status: int(for_status(status)) for status in Status} == {
        Status.OK: 0,
        Status.ROLLED_BACK: 3,
        Status.ROLLBACK_INCOMPLETE: 4,
        Status.FAILED_NO_ROLLBACK: 4,
        Status.CLEANUP_FAILED: 4,
        Status.INTERRUPTED: 130,
    }


def test_a_held_lock_exits_5_and_other_errors_exit_1() -> None:
    assert for_error(StateLockedError("demo", LockInfo.unreadable())) == 5
    assert for_error(ValueError("bad")) == 1


def test_no_command_exits_with_a_number_of_its_own() -> None:
    folder = Path(infradsl.cli.__file__).parent
    literal = re.compile(
        r"\b(?:sys\.exit|os\._exit|SystemExit)\(\d+\)|^\s*return \d+$|^EXIT_\w+ = "
    )
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(folder.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert found == [], f"exit codes outside infradsl/cli/_exit.py: {found}"
