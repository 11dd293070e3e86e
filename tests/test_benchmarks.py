"""The benchmarks run: a smoke test of `benchmarks/deploy.py` (figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.slow
def test_the_deploy_benchmark_prints_both_deployers_side_by_side() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "deploy.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: the ratio target was missed
    out = done.stdout
    for topology in ("chain-heavy, T=2", "chain-free, T=2"):
        assert topology in out
    for row in ("infradsl", "hand-written", "ratio", "calls by action", "critical path"):
        assert row in out
    # The hand-written deployer makes exactly the creates; infradsl at least one of each
    # (the benchmark itself checks that both built the same cloud).
    for action, count in [
        ("ec2.CreateVpc", 1),
        ("ec2.CreateSubnet", 2),
        ("ec2.CreateSecurityGroup", 2),
        ("ec2.AuthorizeSecurityGroupIngress", 2),
        ("ec2.RunInstances", 2),
    ]:
        rows = [line.split() for line in out.splitlines() if line.split()[:1] == [action]]
        assert len(rows) == 2, (action, rows)
        assert all(int(r[1]) >= 1 and r[2] == str(count) for r in rows), (action, rows)
    assert out.rstrip().splitlines()[-1].startswith(("PASS", "FAIL"))
