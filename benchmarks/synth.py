"""Synthesis benchmark: `infradsl synth` against plain dicts + json.dumps, at scale.

What it measures
    A stack of 1 VPC (10.0.0.0/16) plus T tiers; each tier is a construct holding a /28
    subnet, a security group with two ingress rules (443 from 0.0.0.0/0 and 5432 from the
    previous tier's group; tier 0 admits 5432 from the VPC's CIDR instead, so there is no
    cycle) and a t3.micro instance in that subnet and group: 1 + 3*T resources.

    For each size, in a fresh process per run (median of --repeat runs):
      * infradsl: `infradsl synth app.py -o DIR`, end to end (interpreter start, import,
        construction, validation, serialization, file write);
      * baseline: a generated plain-Python script building the same document as dicts
        and writing it with json.dumps(sort_keys=True, indent=2).
    Wall time is measured around spawn + wait; peak RSS is the child's own ru_maxrss from
    os.wait4 (exact, per child). It also times `import infradsl` (-X importtime's
    cumulative figure, and `python -c "import infradsl"` minus `python -c pass`).

    Every infradsl run must exit 0 and its document must hold exactly 1 + 3*T resources,
    or the script stops with an error. "same" says whether the baseline's bytes equal
    infradsl's output (informational: the baseline hard-codes today's defaults).

Run it (stdlib only):
    python benchmarks/synth.py                       # sizes 1000 5000 10000, 3 runs each
    python benchmarks/synth.py --sizes 5000 --repeat 5
Sizes are resource counts; T = (size - 1) // 3 tiers (at most 4096 /28s fit the VPC).
Exit status: 0 when every applicable target passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STACK = "bench"
RATIO_TARGET = 4.0  # infradsl / baseline wall time, at ~5,000 resources
RSS_TARGET_MB = 150.0  # infradsl peak RSS, at ~10,000 resources
IMPORT_TARGET_MS = 50.0

APP = """\
from infradsl import App, Construct, Stack
from infradsl.aws import ec2

TIERS = {tiers}
app = App()
stack = Stack(app, "{stack}", region="us-east-1")
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
prev = "10.0.0.0/16"
for i in range(TIERS):
    tier = Construct(stack, f"Tier{{i}}")
    subnet = ec2.Subnet(tier, "Subnet", vpc=vpc,
                        cidr_block=f"10.0.{{i // 16}}.{{i % 16 * 16}}/28")
    sg = ec2.SecurityGroup(tier, "Sg", vpc=vpc, ingress=[
        ec2.Rule.tcp(443, source="0.0.0.0/0"), ec2.Rule.tcp(5432, source=prev)])
    ec2.Instance(tier, "Server", image="ami-12345678", instance_type="t3.micro",
                 subnet=subnet, security_groups=[sg])
    prev = sg
"""

BASELINE = """\
import json, sys

TIERS = {tiers}
def ref(path):
    return {{"ref": path + ".id"}}
def res(type, properties, depends_on):
    return {{"type": type, "properties": properties, "depends_on": sorted(depends_on),
            "options": {{}}}}
def rule(port, source):
    return {{"protocol": "tcp", "from_port": port, "to_port": port, "source": source}}
resources = {{"Vpc": res("aws.ec2.Vpc", {{
    "cidr_block": "10.0.0.0/16", "enable_dns_support": True, "enable_dns_hostnames": True,
    "instance_tenancy": "default", "tags": {{}}}}, [])}}
prev = None
for i in range(TIERS):
    t = f"Tier{{i}}"
    resources[t + "/Subnet"] = res("aws.ec2.Subnet", {{
        "vpc": ref("Vpc"), "cidr_block": f"10.0.{{i // 16}}.{{i % 16 * 16}}/28",
        "map_public_ip_on_launch": False, "tags": {{}}}}, ["Vpc"])
    resources[t + "/Sg"] = res("aws.ec2.SecurityGroup", {{
        "vpc": ref("Vpc"), "description": "Managed by infradsl", "tags": {{}},
        "ingress": [rule(443, "0.0.0.0/0"), rule(5432, ref(prev) if prev else "10.0.0.0/16")]}},
        ["Vpc", prev] if prev else ["Vpc"])
    resources[t + "/Server"] = res("aws.ec2.Instance", {{
        "image": "ami-12345678", "instance_type": "t3.micro", "subnet": ref(t + "/Subnet"),
        "security_groups": [ref(t + "/Sg")], "require_imdsv2": True, "root_volume_size": 8,
        "root_volume_type": "gp3", "root_volume_encrypted": True, "monitoring": False,
        "tags": {{}}}}, [t + "/Subnet", t + "/Sg"])
    prev = t + "/Sg"
doc = {{"infradsl": 1, "stack": "{stack}", "region": "us-east-1", "resources": resources,
       "outputs": {{}}}}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\\n")
"""


def run(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Run ``cmd`` in a fresh process: (wall seconds, peak RSS MiB, exit code, stderr)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024, proc.returncode, err.read().decode(errors="replace")


def infradsl_cmd() -> list[str]:
    script = Path(sys.executable).parent / "infradsl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infradsl"]


def bench_size(size: int, repeat: int, work: Path) -> dict[str, object]:
    tiers = (size - 1) // 3
    if not 1 <= tiers <= 4096:
        sys.exit(f"size {size}: {tiers} tiers do not fit 4096 /28 subnets of one /16 VPC")
    case = work / f"n{size}"
    case.mkdir()
    (case / "app.py").write_text(APP.format(tiers=tiers, stack=STACK))
    (case / "baseline.py").write_text(BASELINE.format(tiers=tiers, stack=STACK))
    expected = 1 + 3 * tiers
    walls, rsss, base_walls, base_rsss = [], [], [], []
    for i in range(repeat):
        out = case / f"out{i}"
        wall, rss, code, err = run([*infradsl_cmd(), "synth", "app.py", "-o", str(out)], case)
        if code != 0:
            sys.exit(f"FAILED: infradsl synth exited {code} at {size} resources:\n{err[-4000:]}")
        count = len(json.loads((out / f"{STACK}.json").read_text())["resources"])
        if count != expected:
            sys.exit(f"FAILED: synthesized {count} resources, expected {expected} (1 + 3*{tiers})")
        walls.append(wall)
        rsss.append(rss)
        bwall, brss, bcode, berr = run([sys.executable, "baseline.py", f"base{i}.json"], case)
        if bcode != 0:
            sys.exit(f"FAILED: baseline exited {bcode}:\n{berr[-4000:]}")
        base_walls.append(bwall)
        base_rsss.append(brss)
    same = (case / "out0" / f"{STACK}.json").read_bytes() == (case / "base0.json").read_bytes()
    return {
        "n": expected,
        "wall": statistics.median(walls),
        "rss": statistics.median(rsss),
        "bwall": statistics.median(base_walls),
        "brss": statistics.median(base_rsss),
        "same": same,
    }


def import_times(repeat: int = 5) -> tuple[float, float]:
    """(median -X importtime cumulative ms, median wall ms of import minus `pass`)."""
    cumulative, imp, empty = [], [], []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import infradsl"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s*\d+\s*\|\s*(\d+)\s*\|\s*infradsl\s*$", line)
            if match:
                cumulative.append(int(match.group(1)) / 1000)
        for cmd, into in (("import infradsl", imp), ("pass", empty)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", cmd], check=True)
            into.append((time.perf_counter() - start) * 1000)
    if not cumulative:
        sys.exit("FAILED: no 'infradsl' line in python -X importtime output")
    return statistics.median(cumulative), statistics.median(imp) - statistics.median(empty)


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1000, 5000, 10000],
        help="resource counts (default: 1000 5000 10000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="infradsl-bench-"))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, median of {args.repeat} "
        f"fresh-process runs; infradsl = {' '.join(infradsl_cmd())}"
    )
    all_ok = True
    try:
        header = (
            f"{'resources':>9} {'infradsl s':>10} {'baseline s':>10} {'ratio':>6} "
            f"{'infradsl MB':>11} {'baseline MB':>11} {'same':>4}  "
            f"ratio<={RATIO_TARGET:g}  RSS<{RSS_TARGET_MB:g}MB"
        )
        print(header)
        print("-" * len(header))
        for size in args.sizes:
            r = bench_size(size, args.repeat, work)
            ratio = r["wall"] / r["bwall"]
            ratio_ok = ratio <= RATIO_TARGET if 4000 <= r["n"] < 7500 else None
            rss_ok = r["rss"] < RSS_TARGET_MB if r["n"] >= 7500 else None
            all_ok = all_ok and ratio_ok is not False and rss_ok is not False
            print(
                f"{r['n']:>9,} {r['wall']:>10.3f} {r['bwall']:>10.3f} {ratio:>6.2f} "
                f"{r['rss']:>11.1f} {r['brss']:>11.1f} {'yes' if r['same'] else 'no':>4}  "
                f"{verdict(ratio_ok):>10}  {verdict(rss_ok):>9}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cumulative, wall = import_times()
    import_ok = cumulative < IMPORT_TARGET_MS
    all_ok = all_ok and import_ok
    print(
        f"\nimport infradsl: {cumulative:.1f} ms cumulative (-X importtime, median of 5), "
        f"{wall:.1f} ms wall over `python -c pass` (median of 5); "
        f"target < {IMPORT_TARGET_MS:g} ms: {verdict(import_ok)}"
    )
    print(
        "AWS CDK (measured on these machines, DESIGN.md section 8): 40 s, 740 MB at 5,001 resources"
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
