"""Deploy benchmark: `infradsl deploy` against a hand-written boto3 deployer, in the same run.

What it measures
    The topology "1 VPC + T tiers": a VPC (10.0.0.0/16) and per tier a /24 subnet, a
    security group and a t3.micro instance in them; 1 + 3*T resources. Two variants:

    * chain-heavy ("chain"): group i admits group i-1 on tcp/5432 (group 0 admits the VPC's
      CIDR), so every group's rule names another group;
    * chain-free ("flat"): every group admits the VPC's CIDR on tcp/5432.

    Two deployers create it, each in a fresh process per run, against the same local cloud
    (moto's server in its own process, reset with POST /moto-api/reset before every run and
    then made to look like a local cloud in use, see `Bench.reset`):

    * infradsl: ``infradsl --state DIR deploy app.py --yes`` through the real CLI entry
      point, at its default ``--concurrency``, with ``INFRADSL_LOCAL_ENDPOINT`` set and a
      fresh state directory;
    * hand-written: `benchmarks/_handwritten.py`, plain boto3 with a DAG scheduler (a pool
      of as many workers as infradsl's default concurrency; each call submitted as soon as
      its inputs exist; tagged at creation; no waits and no reads).

    Every AWS request of both goes through a loopback proxy (`benchmarks/_proxy.py`) that
    adds --latency-ms (150 ms: a real round trip) before forwarding it to moto, and logs
    its action (``Action=`` of query APIs, ``X-Amz-Target`` of JSON APIs). Wall time is
    the child process's whole life, spawn to exit (interpreter start, imports, and for
    infradsl synthesis, checks, refresh, plan and state writes included). Runs alternate
    between the two deployers; after every run the cloud is counted (instances, subnets,
    groups, rules) to check that both built the same thing. One untimed warm-up of each
    deployer (T=2) loads moto's backends and compiles bytecode first.

    Printed per topology and T: medians of --runs runs of wall time and calls for each,
    ratio = infradsl / hand-written (target <= 1.3), the calls by action side by side (from
    each deployer's median run), and, from the proxy's log of that run, where the wall time
    went: startup (spawn to the first request), before the first create (reads, checks),
    the creates (first CreateVpc to the last EC2 write's answer, with the mean number of
    requests in flight) and after, each with its calls and its idle time (no request in
    flight: the deployer's own work); and the critical path through the creates, read
    backwards from the log (see `Run.chain`).

Run it (infradsl, boto3 and moto installed; takes ~10 minutes with the defaults):
    python benchmarks/deploy.py                     # T = 20 and 100, both topologies, 150 ms
    python benchmarks/deploy.py --tiers 5 --runs 1 --latency-ms 50
    python benchmarks/deploy.py --quick             # T = 2, 1 run, 10 ms: a smoke test
Exit status: 0 when every ratio is <= 1.3, 1 otherwise (the failing cases are named).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _proxy import Call, LatencyProxy  # noqa: E402

RATIO_TARGET = 1.3
REGION = "us-east-1"
TOPOLOGIES = {"chain": "chain-heavy", "flat": "chain-free"}
READ_ONLY = ("Describe", "Get", "List", "Head")

APP = """\
from infradsl import App, Construct, Stack
from infradsl.aws import ec2

app = App()
stack = Stack(app, "bench", region={region!r})
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
source = "10.0.0.0/16"
for i in range({tiers}):
    tier = Construct(stack, f"Tier{{i}}")
    subnet = ec2.Subnet(tier, "Subnet", vpc=vpc, cidr_block=f"10.0.{{i}}.0/24")
    group = ec2.SecurityGroup(tier, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(5432, source=source)])
    if {chain}:
        source = group
    ec2.Instance(
        tier, "Server", image="ami-12345678", instance_type="t3.micro", subnet=subnet,
        security_groups=[group],
    )
"""


@attrs.frozen
class Run:
    """One deployer's run: wall time (spawn to exit) and the requests it made, in order."""

    wall: float
    start: float  # perf_counter at spawn, the clock of `Call.start`/`Call.end`
    calls: list[Call]

    @property
    def by_action(self) -> Counter[str]:
        return Counter(c.action for c in self.calls)

    def phases(self) -> str:
        """Where the wall time went, from the proxy's log: startup (spawn to the first
        request), before the first create, the creates (first CreateVpc to the last EC2
        write's answer) and after; "idle" is time with no request in flight."""
        end = self.start + self.wall
        writes = [c for c in self.calls if _is_ec2_write(c.action)]
        if not writes:
            return "no EC2 writes"
        first, (a, b) = self.calls[0].start, (writes[0].start, max(c.end for c in writes))
        busy = sum(min(c.end, b) - max(c.start, a) for c in self.calls if c.end > a and c.start < b)

        def part(x: float, y: float) -> str:
            calls = sum(1 for c in self.calls if x <= c.start < y)
            return f"{y - x:.2f} s ({calls} calls, {_idle(self.calls, x, y):.2f} s idle"

        return (
            f"startup {first - self.start:.2f} s | before 1st create {part(first, a)}) | creates "
            f"{part(a, b)}, {busy / (b - a) if b > a else 0:.1f} in flight) | after "
            f"{part(b, end)})"
        )

    def chain(self) -> str:
        """The critical path through the creates, read backwards from the log: from the
        last EC2 write, step to the call that answered last before it was sent, down to
        CreateVpc. A heuristic (a call may have waited for a free worker rather than for its
        input), but the gaps between the steps are the deployer's own time on that path."""
        writes = [c for c in self.calls if _is_ec2_write(c.action)]
        if not writes:
            return "-"
        step, first = max(writes, key=lambda c: c.end), writes[0]
        path, gaps = [step], 0.0
        while step is not first:
            before = [c for c in self.calls if c.end <= step.start and c.start >= first.start]
            if not before:
                break
            prev = max(before, key=lambda c: c.end)
            gaps += step.start - prev.end
            path.append(prev)
            step = prev
        names = [c.action.partition(".")[2] or c.action for c in reversed(path)]
        runs: list[list[Any]] = []
        for name in names:
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        if len(runs) > 12:  # a long path is mostly queueing for workers: count it instead
            counts = Counter(names)
            text = "by action " + ", ".join(f"{n} {k}" for n, k in counts.most_common())
            text += "; begins " + ", ".join(names[:3])
        else:
            text = ", ".join(f"{n} x{k}" if k > 1 else n for n, k in runs)
        return f"{len(path)} calls, {gaps:.2f} s between them: {text}"


def _idle(calls: list[Call], a: float, b: float) -> float:
    """Seconds of [a, b] during which no request was in flight."""
    covered, reach = 0.0, a
    for c in sorted(calls, key=lambda c: c.start):
        lo, hi = max(c.start, reach), min(c.end, b)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return (b - a) - covered


def _is_ec2_write(action: str) -> bool:
    service, _, name = action.partition(".")
    return service == "ec2" and not name.startswith(READ_ONLY)


def default_concurrency() -> int:
    """``infradsl deploy``'s default ``--concurrency``, read from the CLI itself."""
    from infradsl.cli.main import deploy

    return int(next(p.default for p in deploy.params if p.name == "concurrency"))


def infradsl_command(app: Path, state: Path) -> list[str]:
    script = Path(sys.executable).parent / "infradsl"
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "infradsl.cli.main"]
    return [*entry, "--state", str(state), "deploy", str(app), "--yes"]


class Bench:
    """The shared fixtures: moto's server, the proxy in front of it, a scratch folder."""

    def __init__(self, latency: float, concurrency: int, work: Path) -> None:
        from infradsl.local.server import LocalCloudError, free_port, spawn

        port = free_port()
        try:
            self.moto = spawn(port)
        except LocalCloudError as exc:
            sys.exit(f"FAILED: {exc}")
        self.moto_url = f"http://127.0.0.1:{port}"
        self.proxy = LatencyProxy(self.moto_url, latency).start()
        self.concurrency = concurrency
        self.work = work
        self.serial = 0
        self._clients: dict[str, Any] = {}
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "INFRADSL_")) and k not in ("NO_COLOR", "FORCE_COLOR")
        }
        self.env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            INFRADSL_LOCAL_ENDPOINT=self.proxy.endpoint,
            INFRADSL_HOME=str(work / "home"),
            NO_COLOR="1",
        )

    def close(self) -> None:
        self.proxy.close()
        self.moto.kill()
        self.moto.wait()

    def reset(self) -> None:
        """Empty the cloud, then make it look like a local cloud in use (untimed, directly
        to moto): after a reset moto builds a service's backend on first use (0.1-0.8 s for
        EC2) and answers a GetParameter of a missing name in 1-6 s, costs that neither
        deployer pays against AWS. So EC2 is touched and infradsl's local-cloud marker is
        put back; infradsl still reads it (one ssm.GetParameter), as on every local deploy."""
        from infradsl.local.server import instance_id

        req = urllib.request.Request(f"{self.moto_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as response:
            response.read()
        self._moto("ec2").describe_vpcs()
        instance_id(self)

    def client(self, service: str) -> Any:
        """Clients straight to moto (not through the proxy), for `instance_id`."""
        return self._moto(service)

    def _moto(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.moto_url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    def _run(self, argv: list[str], what: str) -> Run:
        self.reset()
        self.proxy.take()  # drop anything left over
        start = time.perf_counter()
        done = subprocess.run(argv, env=self.env, cwd=self.work, capture_output=True, text=True)
        wall = time.perf_counter() - start
        calls = self.proxy.take()
        if done.returncode != 0:
            sys.exit(
                f"FAILED: {what} exited {done.returncode}\n{done.stdout[-3000:]}"
                f"\n{done.stderr[-3000:]}"
            )
        return Run(wall, start, calls)

    def infradsl(self, tiers: int, chain: bool) -> Run:
        self.serial += 1
        app = self.work / f"app_{'chain' if chain else 'flat'}_{tiers}.py"
        if not app.exists():
            app.write_text(APP.format(region=REGION, tiers=tiers, chain=chain))
        state = self.work / f"state-{self.serial}"
        return self._run(infradsl_command(app, state), f"infradsl deploy of {app.name}")

    def handwritten(self, tiers: int, chain: bool) -> Run:
        argv = [
            sys.executable,
            str(HERE / "_handwritten.py"),
            "--endpoint",
            self.proxy.endpoint,
            "--tiers",
            str(tiers),
            "--topology",
            "chain" if chain else "flat",
            "--concurrency",
            str(self.concurrency),
            "--region",
            REGION,
        ]
        return self._run(argv, "the hand-written deployer")

    def census(self) -> dict[str, int]:
        """What is in the cloud now (read from moto directly, not through the proxy)."""
        ec2 = self._moto("ec2")
        vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
        ids = [v["VpcId"] for v in vpcs]
        where = [{"Name": "vpc-id", "Values": ids}] if ids else []
        groups = [
            g
            for g in (ec2.describe_security_groups(Filters=where)["SecurityGroups"] if ids else [])
            if g["GroupName"] != "default"
        ]
        perms = [p for g in groups for p in g.get("IpPermissions", [])]
        instances = [
            i
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ]
        return {
            "vpcs": len(vpcs),
            "subnets": len(ec2.describe_subnets(Filters=where)["Subnets"]) if ids else 0,
            "groups": len(groups),
            "rules from groups": sum(len(p.get("UserIdGroupPairs", [])) for p in perms),
            "rules from CIDRs": sum(len(p.get("IpRanges", [])) for p in perms),
            "instances": len(instances),
        }


def expected(tiers: int, chain: bool) -> dict[str, int]:
    from_groups = tiers - 1 if chain and tiers else 0
    return {
        "vpcs": 1,
        "subnets": tiers,
        "groups": tiers,
        "rules from groups": from_groups,
        "rules from CIDRs": tiers - from_groups,
        "instances": tiers,
    }


@attrs.frozen
class Result:
    topology: str
    tiers: int
    infradsl: list[Run]
    hand: list[Run]

    @property
    def ratio(self) -> float:
        return _median_wall(self.infradsl) / _median_wall(self.hand)


def _median_wall(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall)[(len(runs) - 1) // 2]


def _calls(runs: list[Run]) -> str:
    counts = sorted({len(r.calls) for r in runs})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def render(result: Result, latency_ms: float, concurrency: int) -> str:
    n = len(result.infradsl)
    ours, hand = _median_run(result.infradsl), _median_run(result.hand)
    ok = result.ratio <= RATIO_TARGET
    lines = [
        f"{TOPOLOGIES[result.topology]}, T={result.tiers} (1 VPC + {result.tiers} x subnet, group "
        f"with 1 rule, instance), "
        f"{latency_ms:g} ms per request, concurrency {concurrency}, median of {n} run(s)",
        f"  {'':<14}{'wall (s)':>9}{'calls':>8}   runs (s)",
        f"  {'infradsl':<14}{_median_wall(result.infradsl):>9.2f}{_calls(result.infradsl):>8}"
        f"   {' '.join(f'{r.wall:.2f}' for r in result.infradsl)}",
        f"  {'hand-written':<14}{_median_wall(result.hand):>9.2f}{_calls(result.hand):>8}"
        f"   {' '.join(f'{r.wall:.2f}' for r in result.hand)}",
        f"  {'ratio':<14}{result.ratio:>9.2f}{'':>8}   target <= {RATIO_TARGET:g}: "
        f"{'PASS' if ok else 'FAIL'}",
        f"  {'calls by action':<44}{'infradsl':>9}{'hand':>7}{'diff':>6}",
    ]
    a, b = ours.by_action, hand.by_action
    for action in sorted(a.keys() | b.keys(), key=lambda k: (-a[k] - b[k], k)):
        lines.append(f"    {action:<42}{a[action]:>9}{b[action]:>7}{a[action] - b[action]:>+6}")
    total_a, total_b = sum(a.values()), sum(b.values())
    lines.append(f"    {'total':<42}{total_a:>9}{total_b:>7}{total_a - total_b:>+6}")
    lines.append(f"  infradsl:     {ours.phases()}")
    lines.append(f"  hand-written: {hand.phases()}")
    lines.append(f"  critical path, infradsl:     {ours.chain()}")
    lines.append(f"  critical path, hand-written: {hand.chain()}")
    return "\n".join(lines)


def git_version() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiers", type=int, nargs="+", default=[20, 100], help="T values")
    parser.add_argument(
        "--topology", nargs="+", choices=sorted(TOPOLOGIES), default=["chain", "flat"]
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per deployer (median)")
    parser.add_argument("--latency-ms", type=float, default=150.0, help="added per request")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="hand-written workers (default: infradsl's)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: T=2, 1 run, 10 ms, no warm-up"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.tiers, args.runs, args.latency_ms = [2], 1, 10.0
    if any(t < 1 or t > 250 for t in args.tiers):
        parser.error("--tiers must be between 1 and 250 (one /24 per tier in a /16)")
    infradsl_default = default_concurrency()
    concurrency = args.concurrency or infradsl_default

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, infradsl {git_version()}; "
        f"moto server in its own process, proxy adding {args.latency_ms:g} ms per request\n"
        f"infradsl deploy at its default --concurrency {infradsl_default}; hand-written DAG "
        f"with {concurrency} workers; wall = process spawn to exit\n"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="infradsl-bench-deploy-") as tmp:
        bench = Bench(args.latency_ms / 1000, concurrency, Path(tmp))
        try:
            if not args.quick:  # warm-up: moto's backends, bytecode; untimed
                bench.infradsl(2, True)
                bench.handwritten(2, True)
            for topology in args.topology:
                chain = topology == "chain"
                for tiers in args.tiers:
                    ours: list[Run] = []
                    hand: list[Run] = []
                    want = expected(tiers, chain)
                    for i in range(args.runs):
                        order = ("infradsl", "hand") if i % 2 == 0 else ("hand", "infradsl")
                        for who in order:
                            run = (bench.infradsl if who == "infradsl" else bench.handwritten)(
                                tiers, chain
                            )
                            got = bench.census()
                            if got != want:
                                sys.exit(f"FAILED: {who} built {got}, expected {want}")
                            (ours if who == "infradsl" else hand).append(run)
                    result = Result(topology, tiers, ours, hand)
                    results.append(result)
                    print(render(result, args.latency_ms, concurrency), end="\n\n", flush=True)
        finally:
            bench.close()

    failed = [r for r in results if r.ratio > RATIO_TARGET]
    if args.json:
        args.json.write_text(json.dumps(_figures(results), indent=2, sort_keys=True))
    if failed:
        names = ", ".join(f"{TOPOLOGIES[r.topology]} T={r.tiers} ({r.ratio:.2f})" for r in failed)
        print(f"FAIL: ratio > {RATIO_TARGET:g} for {names}")
        return 1
    print(f"PASS: every ratio <= {RATIO_TARGET:g}")
    return 0


def _figures(results: list[Result]) -> list[dict[str, Any]]:
    return [
        {
            "topology": r.topology,
            "tiers": r.tiers,
            "infradsl_wall": [x.wall for x in r.infradsl],
            "hand_wall": [x.wall for x in r.hand],
            "ratio": r.ratio,
            "infradsl_calls": dict(_median_run(r.infradsl).by_action),
            "hand_calls": dict(_median_run(r.hand).by_action),
        }
        for r in results
    ]


if __name__ == "__main__":
    sys.exit(main())
