"""Two deploys of one stack at once: exactly one proceeds, the other exits 5 naming the
holder, and no state write is lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import run_cli

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_with_hooks.py")


def _race(tmp_path: Path, cloud: Any, capsys: Any, state: str) -> None:
    folder = tmp_path / "race"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "webapp" / "app.py", folder / "app.py")
    env = {
        **os.environ,
        "INFRADSL_LOCAL_ENDPOINT": cloud.endpoint,
        "INFRADSL_STATE": state,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "HOOK_LATENCY_MS": "60",
    }
    first = subprocess.Popen(
        [sys.executable, str(RUNNER), "deploy", "app.py", "--yes"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the first run holds the lock (it writes state after its first call).
    deadline = time.monotonic() + 60
    while True:
        code, _out, _err = run_cli(["state", "list"], capsys)
        listing = _out
        if "locked by" in listing:
            break
        assert time.monotonic() < deadline and first.poll() is None, "the first run never locked"
        time.sleep(0.05)
    code, out, err = run_cli(["deploy", str(folder / "app.py"), "--yes"], capsys)
    assert code == 5, out + err
    assert f"pid {first.pid}, deploy, since " in err
    assert "stack 'webapp' is locked by " in err and "wait for it to finish" in err
    out_first, err_first = first.communicate(timeout=180)
    assert first.returncode == 0, out_first + err_first
    code, out, err = run_cli(["state", "show", "webapp"], capsys)
    assert code == 0 and out.count("aws.") == 18, "every write of the winner is there"
    code, out, err = run_cli(["history"], capsys)
    assert len(out.strip().splitlines()) == 1, "the refused run recorded nothing"


def test_two_deploys_with_local_state_exactly_one_proceeds(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    state = str(tmp_path / "state")
    monkeypatch.setenv("INFRADSL_STATE", state)
    _race(tmp_path, local_cloud, capsys, state)
    saved = json.loads((tmp_path / "state" / "local" / "webapp.json").read_text())
    assert len(saved["resources"]) == 18 and saved["pending"] == []


def test_two_deploys_with_s3_state_exactly_one_proceeds(
    tmp_path: Path,
    local_cloud: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    local_cloud.client("s3").create_bucket(Bucket="team-state")
    state = "s3://team-state/infra"
    monkeypatch.setenv("INFRADSL_STATE", state)
    _race(tmp_path, local_cloud, capsys, state)
    body = (
        local_cloud.client("s3")
        .get_object(Bucket="team-state", Key="infra/local/webapp.json")["Body"]
        .read()
    )
    saved = json.loads(body)
    assert len(saved["resources"]) == 18 and saved["pending"] == []
