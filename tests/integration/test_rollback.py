"""Fault injection: every mutating call of a deploy fails once; the rollback restores all.

Each call is made to fail through a botocore ``before-call`` hook. Afterwards every
resource of the stack and every state file must be exactly as before the deploy.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import failing, recording, run_cli, snapshot, state_bytes, webapp_project
from projects import named_webapp_project


def _mutating_calls(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> list[tuple[str, str, int]]:
    """Run a deploy once, recording each mutating call as (service, operation, occurrence)."""
    with recording() as calls:
        code, out, err = run_cli(args, capsys)
    assert code == 0, out + err
    seen: Counter[tuple[str, str]] = Counter()
    result = []
    for service, operation, _ in calls.mutating():
        seen[(service, operation)] += 1
        result.append((service, operation, seen[(service, operation)]))
    return result


def _check_each_failure(
    calls: list[tuple[str, str, int]],
    prepare: Any,
    args: list[str],
    local_cloud: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failures = []
    for service, operation, occurrence in calls:
        folder, stack = prepare()
        before_cloud = snapshot(local_cloud, stack)
        before_state = state_bytes(folder / "state")
        with failing(service, operation, occurrence) as seen:
            code, out, err = run_cli(args, capsys)
        label = f"{service}.{operation}#{occurrence}"
        if seen[0] < occurrence:
            failures.append(f"{label}: the call was not made")
            continue
        if code != 3:
            failures.append(f"{label}: exit {code}, expected 3\n{out}{err}")
            continue
        if "failed and was rolled back" not in out:
            failures.append(f"{label}: no rollback message")
        if snapshot(local_cloud, stack) != before_cloud:
            failures.append(f"{label}: the cloud differs after rollback")
        if state_bytes(folder / "state") != before_state:
            failures.append(f"{label}: the state files differ after rollback")
    assert not failures, "\n".join(failures)


def test_every_failing_call_of_a_fresh_deploy_is_rolled_back(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    webapp_project(tmp_path, monkeypatch, "record")
    calls = _mutating_calls(capsys, ["deploy", "app.py", "--yes"])
    assert len(calls) >= 30, f"a fresh webapp deploy makes many mutating calls: {calls}"
    counter = iter(range(len(calls)))

    def prepare() -> tuple[Path, str]:
        # No reset between the runs: each has a stack of its own (see `projects`).
        return named_webapp_project(tmp_path, monkeypatch, f"fresh{next(counter)}")

    _check_each_failure(calls, prepare, ["deploy", "app.py", "--yes"], local_cloud, capsys)


def test_every_failing_call_of_an_instance_replacement_is_rolled_back(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def base(name: str) -> tuple[Path, str]:
        # No reset between the runs: each has a stack of its own (see `projects`).
        folder, stack = named_webapp_project(tmp_path, monkeypatch, name)
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
        assert code == 0, out + err
        app = folder / "app.py"
        app.write_text(app.read_text().replace('image="ami-12345678"', 'image="ami-87654321"'))
        return folder, stack

    base("record")
    calls = _mutating_calls(capsys, ["deploy", "app.py", "--yes"])
    operations = {op for _, op, _ in calls}
    assert {"RunInstances", "TerminateInstances"} <= operations
    counter = iter(range(len(calls)))
    _check_each_failure(
        calls,
        lambda: base(f"replace{next(counter)}"),
        ["deploy", "app.py", "--yes"],
        local_cloud,
        capsys,
    )
