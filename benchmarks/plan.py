"""Plan benchmark: synthesize a large app and plan it against a saved state, no cloud.

What it measures
    An app of N resources in one stack: V VPCs (10.V.0.0/16, up to 4,000 tiers each) and
    T tiers; each tier is a construct holding a /28 subnet, a security group, two
    standalone rules (443 from 0.0.0.0/0; 5432 from the previous tier's group, or from the
    VPC's range for a VPC's first tier) and a t3.micro instance: N = V + 5*T.

    Setup (not timed): the app is synthesized once and a saved state is written through
    the local state backend as if that document had been deployed, then made to differ a
    little: every 100th instance was deployed as a t3.small (its plan is a replacement),
    and 10 resources the code no longer has are in state (deletes).

    Timed, in a fresh process per run (median of --repeat runs), the way `infradsl plan
    --no-refresh` does it: start the interpreter, import, build and synthesize the app
    (validation included), read the state and plan the stack with the AWS handlers' diff
    rules (no client is made, nothing is read from a cloud), and exit as the console
    script does; the plan is checked (creates, replacements, deletes, no-ops).

    Wall time is measured around spawn + wait; CPU time (user + system) and peak RSS are
    the child's own, from os.wait4 (on a machine shared with other work, CPU time is the
    steadier figure). The child also reports its wall time to synthesized documents
    (start and imports included) and its time to plan.

Run it (stdlib only):
    python benchmarks/plan.py                     # 100,000 resources, 3 runs
    python benchmarks/plan.py --size 20000 --repeat 1
Exit status: 0 when the median wall time is under 15 s and the peak RSS under 1 GB
(at 100,000 resources or more), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STACK = "bench"
PER_VPC = 4000
WALL_TARGET_S = 15.0
RSS_TARGET_MB = 1024.0

APP = """\
from infradsl import App, Construct, Stack
from infradsl.aws import ec2

TIERS = {tiers}
app = App()
stack = Stack(app, "{stack}", region="us-east-1")
for i in range(TIERS):
    v, j = divmod(i, {per_vpc})
    if j == 0:
        vpc = ec2.Vpc(stack, f"Vpc{{v}}", cidr_block=f"10.{{v}}.0.0/16")
        prev = f"10.{{v}}.0.0/16"
    tier = Construct(stack, f"Tier{{i}}")
    subnet = ec2.Subnet(tier, "Subnet", vpc=vpc,
                        cidr_block=f"10.{{v}}.{{j // 16}}.{{j % 16 * 16}}/28")
    sg = ec2.SecurityGroup(tier, "Sg", vpc=vpc)
    ec2.SecurityGroupRule(tier, "Https", group=sg, rule=ec2.Rule.tcp(443, source="0.0.0.0/0"))
    ec2.SecurityGroupRule(tier, "Db", group=sg, rule=ec2.Rule.tcp(5432, source=prev))
    ec2.Instance(tier, "Server", image="ami-12345678", instance_type="t3.micro",
                 subnet=subnet, security_groups=[sg])
    prev = sg
"""

# Writes the saved state (setup, not timed).
SAVE = """\
import sys
from infradsl.cli._loader import load_app
from infradsl.state.local import LocalBackend
from infradsl.state.model import ResourceState, StackState
from infradsl.synth import synthesize

document = synthesize(load_app("app.py"))["{stack}"]
resources = {{}}
for number, (path, entry) in enumerate(sorted(document["resources"].items())):
    inputs = dict(entry["properties"])
    if path.endswith("/Server") and int(path[4 : path.index("/")]) % 100 == 0:
        inputs["instance_type"] = "t3.small"
    pid = f"id-{{number:08x}}"
    resources[path] = ResourceState(
        type=entry["type"], physical_id=pid, inputs=inputs, properties=inputs,
        attributes={{"id": pid}}, depends_on=tuple(entry["depends_on"]),
        options=entry["options"],
    )
for number in range(10):
    pid = f"gone-{{number}}"
    resources[f"Gone{{number}}"] = ResourceState(
        type="aws.ec2.Vpc", physical_id=pid, inputs={{"cidr_block": "10.200.0.0/16"}},
        properties={{"cidr_block": "10.200.0.0/16"}}, attributes={{"id": pid}},
    )
LocalBackend("state", "local").write(
    StackState(stack="{stack}", target="local", region="us-east-1", resources=resources)
)
"""

# The timed run: what `infradsl plan --no-refresh` does, minus the cloud and the printing.
PLAN = """\
import json, resource, sys, time
start = time.perf_counter()
from infradsl.cli.main import _load, exit_now
from infradsl.engine.session import Session
from infradsl.providers.aws import handler_for
from infradsl.state.local import LocalBackend

documents, _ = _load("app.py")
synthesized = time.perf_counter()

def no_cloud(region):
    raise AssertionError("planning without a refresh makes no call")

session = Session(LocalBackend("state", "local"), target="local", clients_for=no_cloud,
                  handler_for=handler_for)
(plan,) = session.plan_all(documents, refresh=False)
planned = time.perf_counter()
actions = {{}}
for change in plan.changes:
    actions[change.action.name] = actions.get(change.action.name, 0) + 1
print(json.dumps({{"synth": synthesized - start, "plan": planned - synthesized,
                  "actions": actions, "resources": len(documents["{stack}"]["resources"])}}))
exit_now(0)  # as the console script ends
"""


def run(cmd: list[str], cwd: Path) -> tuple[float, float, int, str, str, float]:
    """Run ``cmd`` in a fresh process: (wall s, peak RSS MiB, exit code, stdout, stderr,
    CPU s)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            wall,
            usage.ru_maxrss / 1024,
            code,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
        )


def layout(size: int) -> tuple[int, int]:
    """(tiers, VPCs) for about ``size`` resources: the most tiers with V + 5*T <= size."""
    tiers = (size - 1) // 5
    while tiers > 0 and -(-tiers // PER_VPC) + 5 * tiers > size:
        tiers -= 1
    if not 1 <= tiers <= 256 * PER_VPC:
        sys.exit(f"size {size}: between 6 and about 5,000,000 resources")
    return tiers, -(-tiers // PER_VPC)


def bench(size: int, repeat: int, work: Path) -> dict[str, object]:
    tiers, vpcs = layout(size)
    expected = vpcs + 5 * tiers
    (work / "app.py").write_text(APP.format(tiers=tiers, stack=STACK, per_vpc=PER_VPC))
    (work / "save.py").write_text(SAVE.format(stack=STACK))
    (work / "plan_run.py").write_text(PLAN.format(stack=STACK))
    _, _, code, _, err, _ = run([sys.executable, "save.py"], work)
    if code != 0:
        sys.exit(f"FAILED: writing the saved state exited {code}:\n{err[-4000:]}")
    state_mb = (work / "state" / "local" / f"{STACK}.json").stat().st_size / 1e6
    walls, rsss, synths, plans, cpus = [], [], [], [], []
    actions: dict[str, int] = {}
    for _ in range(repeat):
        wall, rss, code, out, err, cpu = run([sys.executable, "plan_run.py"], work)
        if code != 0:
            sys.exit(f"FAILED: the plan run exited {code}:\n{err[-4000:]}")
        report = json.loads(out.strip().splitlines()[-1])
        if report["resources"] != expected:
            sys.exit(f"FAILED: synthesized {report['resources']} resources, expected {expected}")
        actions = report["actions"]
        walls.append(wall)
        cpus.append(cpu)
        rsss.append(rss)
        synths.append(report["synth"])
        plans.append(report["plan"])
    replaced = len(range(0, tiers, 100))
    want = {"REPLACE": replaced, "DELETE": 10, "NOOP": expected - replaced}
    if actions != want:
        sys.exit(f"FAILED: the plan has {actions}, expected {want}")
    return {
        "n": expected,
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "rss": statistics.median(rsss),
        "synth": statistics.median(synths),
        "plan": statistics.median(plans),
        "state_mb": state_mb,
        "actions": actions,
    }


def report_line(r: dict[str, object]) -> tuple[str, bool]:
    """The result row and whether it meets the targets (always true below 100,000)."""
    wall, rss = float(r["wall"]), float(r["rss"])  # type: ignore[arg-type]
    applies = int(r["n"]) >= 100_000  # type: ignore[call-overload]
    ok = wall < WALL_TARGET_S and rss < RSS_TARGET_MB
    verdict = ("PASS" if ok else "FAIL") if applies else "-"
    line = (
        f"{r['n']:>9,} {r['synth']:>8.2f} {r['plan']:>7.2f} {wall:>7.2f} {r['cpu']:>6.2f} "
        f"{rss:>8.0f} "
        f"{r['state_mb']:>8.1f}  {verdict}"
    )
    return line, ok or not applies


HEADER = (
    f"{'resources':>9} {'synth s':>8} {'plan s':>7} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} "
    f"{'state MB':>8}  wall<{WALL_TARGET_S:g}s RSS<{RSS_TARGET_MB:g}MB"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="resources (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs (median)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="infradsl-plan-bench-"))
    try:
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, median of {args.repeat} "
            "fresh-process runs: start, import, build + validate + synthesize, read the "
            "saved state, plan (no refresh)"
        )
        print(HEADER)
        print("-" * len(HEADER))
        r = bench(args.size, args.repeat, work)
        line, ok = report_line(r)
        print(line)
        print(f"plan: {r['actions']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
