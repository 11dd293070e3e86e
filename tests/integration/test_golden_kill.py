"""Kill -9 during an image build and during a stateful replacement of examples/golden-image:
the next plain deploy converges with no builder instance left, no duplicate image and no
volume left detached.

A separate process (``run_with_hooks.py``) runs ``infradsl deploy`` and kills itself right
before, or right after, a chosen mutating call: the builder's launch, the CreateImage, the
builder's termination; the old server's stop, the volume's detach and attach, the old
server's termination.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import owned, recording, run_cli
from test_golden_image import edit_provisioning, golden_project, live_builders

RUNNER = Path(__file__).with_name("run_with_hooks.py")


def _kill_during_deploy(folder: Path, cloud: Any, at: int, when: str) -> None:
    env = {
        **os.environ,
        "INFRADSL_LOCAL_ENDPOINT": cloud.endpoint,
        "INFRADSL_STATE": str(folder / "state"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "HOOK_KILL_AT": str(at),
        "HOOK_KILL_WHEN": when,
    }
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "deploy", "app.py", "--yes"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, f"not killed at {when} {at}: {proc.stderr[-2000:]}"


def _check_converged(folder: Path, cloud: Any, label: str) -> None:
    state = json.loads((folder / "state" / "local" / "golden.json").read_text())["resources"]
    assert live_builders(cloud) == [], f"{label}: a builder instance is left"
    live = owned(cloud, "golden")
    tracked = {r["physical_id"] for r in state.values()}
    orphaned = [item for item in live if item[1] not in tracked]
    assert not orphaned, f"{label}: resources missing from state: {orphaned}"
    per_path = Counter(path for _kind, _id, path in live)
    assert not [p for p, n in per_path.items() if n > 1], f"{label}: duplicates: {per_path}"
    images = [i for kind, i, _ in live if kind == "aws.ec2.Image"]
    assert images == [state["Golden"]["physical_id"]], f"{label}: images {images}"
    volume = cloud.client("ec2").describe_volumes(VolumeIds=[state["DbData"]["physical_id"]])
    attachments = volume["Volumes"][0].get("Attachments", [])
    assert [a["InstanceId"] for a in attachments] == [state["Db"]["physical_id"]], (
        f"{label}: the data volume is not on the server in state: {attachments}"
    )
    assert "Db#old" not in state, f"{label}: the old server is still tracked"


def _points(ops: list[str], wanted: list[str]) -> list[int]:
    """1-based positions, among the mutating calls, of the first call of each ``wanted``."""
    return [ops.index(op) + 1 for op in wanted if op in ops]


@pytest.mark.slow
def test_kills_during_an_image_build_and_a_stateful_replacement_converge(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Where the calls of interest fall, counted on a clean run of each deploy.
    folder = golden_project(tmp_path, monkeypatch, "count")
    with recording() as build:
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    build_ops = [op for _s, op, _p in build.mutating()]
    edit_provisioning(folder)
    with recording() as replace:
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    replace_ops = [op for _s, op, _p in replace.mutating()]
    build_points = _points(build_ops, ["RunInstances", "CreateImage", "TerminateInstances"])
    terminate_old = len(replace_ops) - replace_ops[::-1].index("TerminateInstances")
    replace_points = [
        *_points(replace_ops, ["CreateImage", "StopInstances", "DetachVolume", "AttachVolume"]),
        terminate_old,
    ]
    assert len(build_points) == 3 and len(replace_points) == 5

    killed = Counter[str]()
    for phase, points in (("build", build_points), ("replace", replace_points)):
        for at in points:
            for when in ("before", "after"):
                local_cloud.reset()
                folder = golden_project(tmp_path, monkeypatch, f"{phase}-{at}-{when}")
                if phase == "replace":
                    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
                    edit_provisioning(folder)
                _kill_during_deploy(folder, local_cloud, at, when)
                code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
                label = f"SIGKILL {when} call {at} of the {phase}"
                assert code == 0, f"{label}: the next deploy did not converge\n{out}{err}"
                _check_converged(folder, local_cloud, label)
                killed[phase] += 1
    assert sum(killed.values()) >= 8
    print(
        f"\nkill points: {dict(killed)}; builders left: 0; duplicate images: 0; "
        "volumes left detached: 0"
    )
