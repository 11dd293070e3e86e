"""Kill -9 at many points of a deploy: the next run converges, nothing is lost or doubled.

A separate process runs ``infradsl deploy`` of the webapp example and SIGKILLs itself at
the N-th mutating API call, before the call is sent or after its answer arrived (the
cloud changed but the journal has no result yet). Then, as a user would: the next deploy
reports the stale lock (exit 5), ``infradsl state unlock`` clears it, and deploy again
converges: exactly one resource per path, and every resource carrying the stack's tags is
in state.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import owned, recording, run_cli

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_with_hooks.py")
REPORT: list[str] = []


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "webapp" / "app.py", folder / "app.py")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("INFRADSL_STATE", str(folder / "state"))
    return folder


def _spawn(folder: Path, cloud: Any, **hooks: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "INFRADSL_LOCAL_ENDPOINT": cloud.endpoint,
        "INFRADSL_STATE": str(folder / "state"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **hooks,
    }
    return subprocess.Popen(
        [sys.executable, str(RUNNER), "deploy", "app.py", "--yes"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "state" / "local" / "webapp.json").read_text())


def _check_converged(folder: Path, cloud: Any) -> tuple[int, int]:
    """Return (orphaned, duplicated) counts; both must be 0."""
    live = owned(cloud, "webapp")
    tracked = {r["physical_id"] for r in _state(folder)["resources"].values()}
    orphaned = [item for item in live if item[1] not in tracked]
    per_path = Counter(path for _kind, _id, path in live)
    duplicated = [p for p, n in per_path.items() if n > 1]
    assert not orphaned, f"resources with the stack's tags missing from state: {orphaned}"
    assert not duplicated, f"more than one resource for a path: {duplicated}"
    assert len(per_path) == 18 and set(per_path) == set(_state(folder)["resources"])
    return len(orphaned), len(duplicated)


def _kill_and_converge(folder: Path, cloud: Any, capsys: Any, kill_at: int, when: str) -> None:
    proc = _spawn(folder, cloud, HOOK_KILL_AT=str(kill_at), HOOK_KILL_WHEN=when)
    _out, err = proc.communicate(timeout=180)
    assert proc.returncode == -signal.SIGKILL, f"not killed at {when} {kill_at}: {err[-2000:]}"
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 5, out + err
    assert "no longer running on this host, so the lock is stale" in err
    lock_id = re.search(r"infradsl state unlock (\w+)", err)
    assert lock_id is not None, err
    assert run_cli(["state", "unlock", lock_id.group(1)], capsys)[0] == 0
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, f"kill {when} call {kill_at}: no convergence\n{out}{err}"
    _check_converged(folder, cloud)
    REPORT.append(f"{when}#{kill_at}")


def _mutating_count(capsys: Any) -> int:
    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    return len(calls.mutating())


def test_deploys_killed_at_many_points_converge_without_orphans_or_duplicates(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    _project(tmp_path, monkeypatch, "count")
    total = _mutating_count(capsys)
    step = max(1, total // 12)
    points = [(n, "after") for n in range(1, total + 1, step)]
    points += [(n, "before") for n in range(1 + step // 2, total + 1, step)]
    assert len(points) >= 20, points
    for index, (kill_at, when) in enumerate(points):
        local_cloud.reset()
        folder = _project(tmp_path, monkeypatch, f"fresh{index}")
        _kill_and_converge(folder, local_cloud, capsys, kill_at, when)

    # An update that replaces an instance, killed at each of its mutating calls.
    def replaced(name: str) -> Path:
        local_cloud.reset()
        folder = _project(tmp_path, monkeypatch, name)
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
        app = folder / "app.py"
        app.write_text(app.read_text().replace('image="ami-12345678"', 'image="ami-87654321"'))
        return folder

    replaced("count-replace")
    replace_total = _mutating_count(capsys)
    assert replace_total >= 2
    for kill_at in range(1, replace_total + 1):
        for when in ("before", "after"):
            folder = replaced(f"replace{kill_at}{when}")
            _kill_and_converge(folder, local_cloud, capsys, kill_at, when)
            images = {i for kind, i, _ in owned(local_cloud, "webapp") if kind == "aws.ec2.Instance"}
            assert len(images) == 2

    assert run_cli(["destroy", "app.py", "--yes"], capsys)[0] == 0
    assert owned(local_cloud, "webapp") == []
    print(f"\nkill points covered: {len(REPORT)}; orphaned: 0; duplicated: 0")
    assert len(REPORT) >= 20


def test_a_first_interrupt_finishes_the_calls_in_flight_and_saves_state(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    folder = _project(tmp_path, monkeypatch, "interrupt")
    proc = _spawn(folder, local_cloud, HOOK_LATENCY_MS="150")
    deadline = time.monotonic() + 60
    while not (folder / "state" / "local" / "webapp.json").exists():
        assert time.monotonic() < deadline, "the deploy never started"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
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
