"""Kill -9 and SIGTERM at many points of a deploy, a destroy and a replacement: the next
plain run converges, nothing is lost or doubled, no manual step.

A separate process runs ``infradsl deploy`` (or ``destroy``) of the webapp example and
signals itself at the N-th mutating API call, before the call is sent or after its answer
arrived (the cloud changed but the journal has no result yet). SIGKILL leaves its lock
file behind, but the kernel released the lock: the next run takes it over, says so, and
recovers from the journal. SIGTERM (a cancelled CI job) behaves like a first Ctrl-C: the
calls in flight finish, state is saved, the run exits 130. Then, as a user would, the same
command again must converge: exactly one resource per path, and every resource carrying
the stack's tag (listed through every handler) is in state; or, for destroy, none is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import owned, recording, run_cli, webapp_project
from projects import named_webapp_project

RUNNER = Path(__file__).with_name("run_with_hooks.py")
REPORT: Counter[str] = Counter()


def _spawn(folder: Path, cloud: Any, command: str = "deploy", **hooks: str) -> Any:
    env = {
        **os.environ,
        "INFRADSL_LOCAL_ENDPOINT": cloud.endpoint,
        "INFRADSL_STATE": str(folder / "state"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **hooks,
    }
    return subprocess.Popen(
        [sys.executable, str(RUNNER), command, "app.py", "--yes"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(folder: Path, stack: str = "webapp") -> dict[str, Any]:
    return json.loads((folder / "state" / "local" / f"{stack}.json").read_text())


def _check_converged(folder: Path, cloud: Any, stack: str = "webapp") -> tuple[int, int]:
    """Return (orphaned, duplicated) counts; both must be 0."""
    live = owned(cloud, stack)
    tracked = {r["physical_id"] for r in _state(folder, stack)["resources"].values()}
    orphaned = [item for item in live if item[1] not in tracked]
    per_path = Counter(path for _kind, _id, path in live)
    duplicated = [p for p, n in per_path.items() if n > 1]
    assert not orphaned, f"resources with the stack's tags missing from state: {orphaned}"
    assert not duplicated, f"more than one resource for a path: {duplicated}"
    assert len(per_path) == 18 and set(per_path) == set(_state(folder, stack)["resources"])
    return len(orphaned), len(duplicated)


def _signal_and_converge(
    folder: Path,
    cloud: Any,
    capsys: Any,
    at: int,
    when: str,
    sig: str = "KILL",
    command: str = "deploy",
    stack: str = "webapp",
) -> None:
    proc = _spawn(
        folder, cloud, command, HOOK_KILL_AT=str(at), HOOK_KILL_WHEN=when, HOOK_SIGNAL=sig
    )
    out, err = proc.communicate(timeout=180)
    label = f"SIG{sig} {when} call {at} of {command}"
    if sig == "KILL":
        assert proc.returncode == -signal.SIGKILL, f"{label}: not killed: {err[-2000:]}"
    else:
        # 130 when work was left to do; 0 when the calls in flight were the last ones.
        assert proc.returncode in (0, 130), f"{label}: exited {proc.returncode}\n{out}{err[-2000:]}"
        assert "SIGTERM: stopping the" in out, out
    code, out, err = run_cli([command, "app.py", "--yes"], capsys)
    assert code == 0, f"{label}: the next {command} did not converge\n{out}{err}"
    if sig == "KILL":
        assert "took over the lock of a run that is no longer running" in out + err, out + err
    if command == "deploy":
        _check_converged(folder, cloud, stack)
    else:
        assert owned(cloud, stack) == [], f"{label}: destroy left resources"
    REPORT[f"{command} SIG{sig}"] += 1


def _mutating_count(capsys: Any, command: str = "deploy") -> int:
    with recording() as calls:
        code, out, err = run_cli([command, "app.py", "--yes"], capsys)
    assert code == 0, out + err
    return len(calls.mutating())


def _points(total: int, count: int) -> list[int]:
    """``count`` call numbers spread over 1..total."""
    step = max(1, total // count)
    return list(range(1, total + 1, step))[:count]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["KILL after", "KILL before", "TERM after"])
def test_deploys_killed_at_many_points_converge_without_orphans_or_duplicates(
    which: str,
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    webapp_project(tmp_path, monkeypatch, "count")
    total = _mutating_count(capsys)
    points = {
        "KILL after": [(n, "after", "KILL") for n in _points(total, 10)],
        "KILL before": [(n + 1, "before", "KILL") for n in _points(total - 1, 8)],
        "TERM after": [(n + 2, "after", "TERM") for n in _points(total - 2, 5)],
    }[which]
    before = REPORT.copy()
    stack = "webapp"
    for index, (at, when, sig) in enumerate(points):
        # No reset between the runs: each has a stack of its own (see `projects`).
        folder, stack = named_webapp_project(tmp_path, monkeypatch, f"fresh{index}")
        _signal_and_converge(folder, local_cloud, capsys, at, when, sig, stack=stack)
    assert run_cli(["destroy", "app.py", "--yes"], capsys)[0] == 0
    assert owned(local_cloud, stack) == []
    done = REPORT - before
    assert sum(done.values()) == len(points) >= 5
    print(f"\nkill points ({which}): {dict(done)}; orphaned: 0; duplicated: 0")


@pytest.mark.slow
def test_destroys_killed_at_many_points_leave_nothing_after_a_plain_rerun(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    def deployed(name: str) -> tuple[Path, str]:
        # No reset between the runs: each has a stack of its own (see `projects`).
        folder, stack = named_webapp_project(tmp_path, monkeypatch, name)
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
        return folder, stack

    deployed("count")
    total = _mutating_count(capsys, "destroy")
    points = [(n, "after", "KILL") for n in _points(total, 4)]
    points += [(n + 1, "before", "KILL") for n in _points(total - 1, 2)]
    points += [(n + 1, "after", "TERM") for n in _points(total - 1, 2)]
    for index, (at, when, sig) in enumerate(points):
        folder, stack = deployed(f"destroy{index}")
        _signal_and_converge(folder, local_cloud, capsys, at, when, sig, "destroy", stack)
    assert REPORT["destroy SIGKILL"] >= 6 and REPORT["destroy SIGTERM"] >= 2
    print(f"\nkill points: {dict(REPORT)}")


@pytest.mark.slow
def test_replacements_killed_at_each_call_converge_keeping_one_instance(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    def replaced(name: str) -> tuple[Path, str]:
        # No reset between the runs: each has a stack of its own (see `projects`).
        folder, stack = named_webapp_project(tmp_path, monkeypatch, name)
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
        app = folder / "app.py"
        app.write_text(app.read_text().replace('image="ami-12345678"', 'image="ami-87654321"'))
        return folder, stack

    replaced("count-replace")
    total = _mutating_count(capsys)
    assert total >= 2
    points = [(n, when, "KILL") for n in range(1, total + 1) for when in ("before", "after")]
    points.append((1, "after", "TERM"))
    for at, when, sig in points:
        folder, stack = replaced(f"replace{at}{when}{sig}")
        _signal_and_converge(folder, local_cloud, capsys, at, when, sig, stack=stack)
        images = {i for kind, i, _ in owned(local_cloud, stack) if kind == "aws.ec2.Instance"}
        assert len(images) == 2, "the old instances are retired once the new ones are in place"
    print(f"\nkill points: {dict(REPORT)}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_a_first_interrupt_finishes_the_calls_in_flight_and_saves_state(
    sig: signal.Signals,
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    folder = webapp_project(tmp_path, monkeypatch, "interrupt")
    proc = _spawn(folder, local_cloud, HOOK_LATENCY_MS="150")
    deadline = time.monotonic() + 60
    while not (folder / "state" / "local" / "webapp.json").exists():
        assert time.monotonic() < deadline, "the deploy never started"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "stopping the deploy: no new operation starts" in out
    assert "Run `infradsl deploy` again to continue." in out
    state = _state(folder)
    assert state["pending"] == [], "the calls in flight finished and were recorded"
    assert 0 < len(state["resources"]) < 18
    assert not (folder / "state" / "local" / "webapp.lock").exists()
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    _check_converged(folder, local_cloud)
