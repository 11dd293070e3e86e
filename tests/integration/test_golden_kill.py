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


# (call, before or after it): the builder's launch, the image, the builder's termination;
# the old server's stop, the volume's detach and attach, the new image, the old server's
# termination. 10 kill points in all, 5 per phase.
POINTS = {
    "build": [
        ("RunInstances", "after"),
        ("CreateImage", "before"),
        ("CreateImage", "after"),
        ("TerminateInstances", "before"),
        ("TerminateInstances", "after"),
    ],
    "replace": [
        ("CreateImage", "after"),
        ("StopInstances", "after"),
        ("DetachVolume", "after"),
        ("AttachVolume", "before"),
        ("TerminateInstances (old server)", "before"),
    ],
}


def _position(ops: list[str], op: str) -> int:
    """1-based position among the mutating calls: the first ``op``, or for the old
    server's termination, the last TerminateInstances."""
    if op == "TerminateInstances (old server)":
        return len(ops) - ops[::-1].index("TerminateInstances")
    return ops.index(op) + 1


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["build", "replace"])
def test_kills_during_an_image_build_and_a_stateful_replacement_converge(
    phase: str, tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Where the calls of interest fall, counted on a clean run of the deploy.
    folder = golden_project(tmp_path, monkeypatch, "count")
    if phase == "replace":
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
        edit_provisioning(folder)
    with recording() as counted:
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    ops = [op for _s, op, _p in counted.mutating()]

    for op, when in POINTS[phase]:
        at = _position(ops, op)
        local_cloud.reset()
        folder = golden_project(tmp_path, monkeypatch, f"{phase}-{at}-{when}")
        if phase == "replace":
            assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
            edit_provisioning(folder)
        _kill_during_deploy(folder, local_cloud, at, when)
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
        label = f"SIGKILL {when} {op} (call {at}) of the {phase}"
        assert code == 0, f"{label}: the next deploy did not converge\n{out}{err}"
        _check_converged(folder, local_cloud, label)
    print(
        f"\n{phase}: {len(POINTS[phase])} kill points; builders left: 0; duplicate images: 0; "
        "volumes left detached: 0"
    )
