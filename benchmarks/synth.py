"""Synthesis benchmark: `infradsl synth` against troposphere and plain dicts, at scale.

What it measures
    1. Against troposphere (`pip install -e ".[bench]"`), the topology of DESIGN.md section 8:
       1 VPC + 1,000 tiers of a /28 subnet, a security group, two rules as resources of
       their own (443 from 0.0.0.0/0; 5432 from the previous tier's group, or from the
       VPC's range for tier 0) and a t3.micro instance: 5,001 resources. infradsl runs
       `infradsl synth app.py -o DIR`; troposphere builds the same template (validation
       on, rules as SecurityGroupIngress) and writes `to_json()`. Target: infradsl's time
       at most 1.0x troposphere's.
    2. Against plain dicts, at several sizes: 1 VPC (10.0.0.0/16) plus T tiers; each tier
       is a construct holding a /28 subnet, a security group with two inline ingress rules
       (443 from 0.0.0.0/0 and 5432 from the previous tier's group; tier 0 admits 5432
       from the VPC's CIDR instead) and a t3.micro instance in that subnet and group:
       1 + 3*T resources. The baseline is a generated plain-Python script building the
       same document as dicts and writing it with json.dumps(sort_keys=True, indent=2).
    3. At 100,000 resources: synthesis and a plan against a saved state (no cloud), in
       one fresh process, as `benchmarks/plan.py` runs it. Target: under 15 s wall and
       1 GB peak RSS.

    Every measurement runs in a fresh process (interpreter start, import, construction,
    validation, serialization, file write), median of --repeat runs, the tools alternating
    within each round. Wall time is measured around spawn + wait; CPU time (user + system)
    and peak RSS are the child's own, from os.wait4 (exact, per child): on a machine
    shared with other work, the CPU ratio is the steadier figure. It also times
    `import infradsl` (-X importtime's cumulative figure, and `python -c "import
    infradsl"` minus `python -c pass`).

    Every infradsl run must exit 0 and its document must hold exactly the expected
    resources, or the script stops with an error. "same" says whether the baseline's
    bytes equal infradsl's output (informational: the baseline hard-codes today's
    defaults).

Run it:
    pip install -e ".[bench]"                       # troposphere, for the comparison
    python benchmarks/synth.py                       # everything, 3 runs each
    python benchmarks/synth.py --sizes 5000 --repeat 5 --no-scale
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
TROPOSPHERE_TARGET = 1.0  # infradsl / troposphere wall time, at 5,001 resources
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

# The topology of DESIGN.md section 8: rules as resources, so 1 + 5*T resources.
APP_RULES = """\
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
    sg = ec2.SecurityGroup(tier, "Sg", vpc=vpc)
    ec2.SecurityGroupRule(tier, "Https", group=sg, rule=ec2.Rule.tcp(443, source="0.0.0.0/0"))
    ec2.SecurityGroupRule(tier, "Db", group=sg, rule=ec2.Rule.tcp(5432, source=prev))
    ec2.Instance(tier, "Server", image="ami-12345678", instance_type="t3.micro",
                 subnet=subnet, security_groups=[sg])
    prev = sg
"""

TROPOSPHERE = """\
import sys
import troposphere
from troposphere import Ref, Template, ec2

troposphere.MAX_RESOURCES = 10**7  # its default refuses more than 500, as CloudFormation
TIERS = {tiers}
t = Template()
vpc = t.add_resource(ec2.VPC("Vpc", CidrBlock="10.0.0.0/16", EnableDnsSupport=True,
                             EnableDnsHostnames=True, InstanceTenancy="default"))
prev = None
for i in range(TIERS):
    subnet = t.add_resource(ec2.Subnet(
        f"Tier{{i}}Subnet", VpcId=Ref(vpc), CidrBlock=f"10.0.{{i // 16}}.{{i % 16 * 16}}/28",
        MapPublicIpOnLaunch=False))
    sg = t.add_resource(ec2.SecurityGroup(
        f"Tier{{i}}Sg", VpcId=Ref(vpc), GroupDescription="Managed by infradsl"))
    t.add_resource(ec2.SecurityGroupIngress(
        f"Tier{{i}}Https", GroupId=Ref(sg), IpProtocol="tcp", FromPort=443, ToPort=443,
        CidrIp="0.0.0.0/0"))
    if prev is None:
        t.add_resource(ec2.SecurityGroupIngress(
            f"Tier{{i}}Db", GroupId=Ref(sg), IpProtocol="tcp", FromPort=5432, ToPort=5432,
            CidrIp="10.0.0.0/16"))
    else:
        t.add_resource(ec2.SecurityGroupIngress(
            f"Tier{{i}}Db", GroupId=Ref(sg), IpProtocol="tcp", FromPort=5432, ToPort=5432,
            SourceSecurityGroupId=Ref(prev)))
    t.add_resource(ec2.Instance(
        f"Tier{{i}}Server", ImageId="ami-12345678", InstanceType="t3.micro",
        SubnetId=Ref(subnet), SecurityGroupIds=[Ref(sg)], Monitoring=False))
    prev = sg
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(t.to_json())
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


def run(cmd: list[str], cwd: Path) -> tuple[float, float, int, str, float]:
    """Run ``cmd`` in a fresh process: (wall s, peak RSS MiB, exit code, stderr, CPU s)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return (
            wall,
            usage.ru_maxrss / 1024,
            proc.returncode,
            err.read().decode(errors="replace"),
            cpu,
        )


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
        wall, rss, code, err, _ = run([*infradsl_cmd(), "synth", "app.py", "-o", str(out)], case)
        if code != 0:
            sys.exit(f"FAILED: infradsl synth exited {code} at {size} resources:\n{err[-4000:]}")
        count = len(json.loads((out / f"{STACK}.json").read_text())["resources"])
        if count != expected:
            sys.exit(f"FAILED: synthesized {count} resources, expected {expected} (1 + 3*{tiers})")
        walls.append(wall)
        rsss.append(rss)
        bwall, brss, bcode, berr, _ = run([sys.executable, "baseline.py", f"base{i}.json"], case)
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


def has_troposphere() -> bool:
    probe = [sys.executable, "-c", "import troposphere"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def bench_troposphere(repeat: int, work: Path) -> dict[str, float]:
    """infradsl and troposphere on 1 VPC + 1,000 tiers (5,001 resources), alternating."""
    tiers = 1000
    case = work / "troposphere"
    case.mkdir()
    (case / "app.py").write_text(APP_RULES.format(tiers=tiers, stack=STACK))
    (case / "tropo.py").write_text(TROPOSPHERE.format(tiers=tiers))
    expected = 1 + 5 * tiers
    runs: dict[str, list[tuple[float, float, float]]] = {"infradsl": [], "troposphere": []}
    for i in range(repeat):
        # Alternate which goes first, so a burst of load elsewhere hits both alike.
        order = ["infradsl", "troposphere"] if i % 2 == 0 else ["troposphere", "infradsl"]
        for tool in order:
            if tool == "infradsl":
                out = case / f"out{i}"
                cmd = [*infradsl_cmd(), "synth", "app.py", "-o", str(out)]
            else:
                cmd = [sys.executable, "tropo.py", f"tropo{i}.json"]
            wall, rss, code, err, cpu = run(cmd, case)
            if code != 0:
                sys.exit(f"FAILED: {tool} exited {code} at {expected} resources:\n{err[-4000:]}")
            runs[tool].append((wall, cpu, rss))
        count = len(json.loads((case / f"out{i}" / f"{STACK}.json").read_text())["resources"])
        tropo = len(json.loads((case / f"tropo{i}.json").read_text())["Resources"])
        if count != expected or tropo != expected:
            sys.exit(
                f"FAILED: {count} resources by infradsl, {tropo} by troposphere, "
                f"expected {expected}"
            )
    result: dict[str, float] = {"n": expected}
    for tool, rows in runs.items():
        for index, key in enumerate(("wall", "cpu", "rss")):
            result[f"{tool}_{key}"] = statistics.median(row[index] for row in rows)
    return result


def bench_scale(size: int, repeat: int) -> tuple[str, str, bool]:
    """The 100,000-resource synthesis and plan, as benchmarks/plan.py runs it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import plan  # benchmarks/plan.py

    work = Path(tempfile.mkdtemp(prefix="infradsl-plan-bench-"))
    try:
        line, ok = plan.report_line(plan.bench(size, repeat, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return plan.HEADER, line, ok


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
    parser.add_argument(
        "--scale",
        type=int,
        default=100_000,
        help="resources synthesized and planned against a saved state (default 100000)",
    )
    parser.add_argument(
        "--no-scale", action="store_true", help="skip the synthesis and plan at --scale"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="infradsl-bench-"))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, median of {args.repeat} "
        f"fresh-process runs; infradsl = {' '.join(infradsl_cmd())}"
    )
    all_ok = True
    try:
        if has_troposphere():
            r = bench_troposphere(args.repeat, work)
            ratio = r["infradsl_wall"] / r["troposphere_wall"]
            cpu_ratio = r["infradsl_cpu"] / r["troposphere_cpu"]
            tropo_ok = ratio <= TROPOSPHERE_TARGET
            all_ok = all_ok and tropo_ok
            print(
                f"\nvs troposphere, {int(r['n']):,} resources (1 VPC + 1,000 tiers of subnet, "
                "security group, 2 rules, instance):"
            )
            header = (
                f"{'':>12} {'wall s':>7} {'CPU s':>7} {'peak MB':>8}\n"
                f"{'infradsl':>12} {r['infradsl_wall']:>7.3f} {r['infradsl_cpu']:>7.3f} "
                f"{r['infradsl_rss']:>8.1f}\n"
                f"{'troposphere':>12} {r['troposphere_wall']:>7.3f} "
                f"{r['troposphere_cpu']:>7.3f} {r['troposphere_rss']:>8.1f}\n"
                f"{'ratio':>12} {ratio:>7.2f} {cpu_ratio:>7.2f}   "
                f"wall ratio<={TROPOSPHERE_TARGET:g}: {verdict(tropo_ok)}"
            )
            print(header, flush=True)
        else:
            all_ok = False
            print('\nvs troposphere: FAIL, troposphere is not installed: pip install -e ".[bench]"')
        print("\nvs plain dicts + json.dumps:")
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
    if not args.no_scale:
        print(f"\nsynthesized and planned against a saved state, {args.scale:,} resources:")
        header, line, scale_ok = bench_scale(args.scale, args.repeat)
        all_ok = all_ok and scale_ok
        print(header)
        print("-" * len(header))
        print(line, flush=True)
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
