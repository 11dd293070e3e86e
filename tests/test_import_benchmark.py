"""The import benchmark runs: a small VPC is imported and planned with no changes (the 30 s
target applies from 500 resources, the benchmark's default; figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "import.py"


@pytest.mark.slow
def test_the_import_benchmark_imports_a_hand_made_vpc_and_plans_no_change() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--size", "20"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "imported 20 resources" in out
    assert "exit 0 (no changes)" in out
    # Batched: a few calls per type, not one per resource.
    counts = {
        parts[0]: int(parts[1])
        for parts in (line.split() for line in out.splitlines())
        if len(parts) == 2 and "." in parts[0] and parts[1].isdigit()
    }
    assert counts["ec2.DescribeInstances"] <= 2 and counts["ec2.DescribeSecurityGroups"] <= 2
    assert out.rstrip().splitlines()[-1].startswith("PASS")
