"""State-write benchmark: one journal record against one whole-document write, at scale.

What it measures
    A deploy writes its state before every mutating call (the intent) and after it (the
    result). For stacks of N resources (security-group records of about 550 bytes of JSON
    each: 10.9 MB at 20,000, like the stacks measured in issue 11), in this process:

      * journal: the write the executor does today, the way it does it: a snapshot of a
        `TrackedDict` as a `ResourceMap` made from the previous one and naming the changed
        keys, then `backend.write`,
        alternating an intent (a pending intent added) and a result (the intent removed,
        one resource changed). Median and 95th percentile of --writes writes, and the
        compaction the run pays when it releases its lock (or when the journal passes
        max(256 KiB, half the document)), with its share per record: compaction time
        divided by the records a journal holds before it is compacted;
      * whole document: what every write cost before the journal: serialize the whole
        state and replace the document (local: a temporary file, fsync, rename; S3: one
        PUT of the document). Median of a few writes.

    Both on the local file backend and, unless --no-s3, on the S3 backend against a moto
    server started on a free port (one PUT of a record plus one HEAD of the document, as
    against one PUT of the whole document).

    Then, unless --no-deploy, a deploy of D resources on the local cloud through the real
    engine, in a fresh process: `infradsl deploy` of one VPC and D - 1 elastic IPs
    (--concurrency 10, the default), on a fresh moto server, local state. It prints the
    wall time, how many state writes the deploy made and the time spent in them.

Run it (stdlib + infradsl):
    python benchmarks/journal.py                          # 100, 5,000, 20,000; deploy 2,000
    python benchmarks/journal.py --sizes 100 20000 --no-s3 --no-deploy
Exit status: 0 when a journal write at the largest size costs at most twice what it
costs at the smallest (median, local backend), 1 otherwise.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infradsl.local.server import free_port, spawn  # noqa: E402
from infradsl.state import local as local_module  # noqa: E402
from infradsl.state._files import write_atomic  # noqa: E402
from infradsl.state.backend import LockInfo, StateBackend  # noqa: E402
from infradsl.state.delta import ResourceMap, TrackedDict  # noqa: E402
from infradsl.state.local import LocalBackend  # noqa: E402
from infradsl.state.model import ResourceState, StackState  # noqa: E402
from infradsl.state.s3 import S3Backend, S3Clients  # noqa: E402

STACK = "bench"
GROWTH_TARGET = 2.0  # journal write at the largest size / at the smallest


def group(i: int, version: int = 0) -> ResourceState:
    """A deployed security group, as state records one."""
    gid = f"sg-{i:017x}"
    props = {
        "vpc": "vpc-0a1b2c3d4e5f60718",
        "description": f"tier {i} web servers, version {version}",
        "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "source": "0.0.0.0/0"}],
    }
    return ResourceState(
        type="aws.ec2.SecurityGroup",
        physical_id=gid,
        inputs={**props, "vpc": {"ref": "Vpc.id"}},
        properties=props,
        attributes={"id": gid, "arn": f"arn:aws:ec2:us-east-1:123456789012:security-group/{gid}"},
        depends_on=("Vpc",),
    )


def initial(size: int) -> StackState:
    return StackState(
        stack=STACK,
        target="local",
        region="us-east-1",
        serial=1,
        resources={f"Tier{i}/Sg": group(i) for i in range(size)},
    )


class Executor:
    """The executor's state writes (`Executor._write_locked`), without a deploy around."""

    def __init__(self, backend: StateBackend, state: StackState) -> None:
        self.backend = backend
        self.state = state
        self.resources: TrackedDict[ResourceState] = TrackedDict(state.resources)
        self.pending: dict[str, dict[str, Any]] = {}
        self.serial = state.serial
        self.saved_map: int | None = None
        self.unsaved: set[str] = set()
        self.snapshot: ResourceMap | None = None

    def save(self) -> float:
        started = time.perf_counter()
        self.serial += 1
        keys = self.resources.take_changed()
        self.unsaved |= keys
        if self.snapshot is None:
            resources = ResourceMap(self.resources, base=self.saved_map, changed=self.unsaved)
        else:
            resources = self.snapshot.updated(
                {key: self.resources.get(key) for key in keys},
                base=self.saved_map,
                changed=self.unsaved,
            )
        self.snapshot = resources
        state = StackState(
            stack=STACK,
            target="local",
            region="us-east-1",
            serial=self.serial,
            resources=resources,
            lineage=self.state.lineage,
            pending=tuple(self.pending.values()),
        )
        self.backend.write(state)
        self.saved_map, self.unsaved = resources.token, set()
        return time.perf_counter() - started

    def operation(self, n: int, size: int) -> list[float]:
        """An intent, then a result that changes one resource: two writes."""
        key = f"Tier{n % size}/Sg"
        intent_id = f"{n:012x}"
        self.pending[intent_id] = {
            "id": intent_id,
            "op": "update",
            "path": key,
            "type": "aws.ec2.SecurityGroup",
            "physical_id": self.resources[key].physical_id,
            "started": time.time(),
        }
        times = [self.save()]
        self.resources[key] = group(n % size, version=n + 1)
        del self.pending[intent_id]
        times.append(self.save())
        return times


def dump(state: StackState) -> bytes:
    return (json.dumps(state.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()


def measure(
    name: str,
    make_backend: Callable[[], StateBackend],
    journal_size: Callable[[], int],
    whole: Callable[[StackState], None],
    size: int,
    writes: int,
    whole_writes: int,
) -> dict[str, Any]:
    backend = make_backend()
    state = initial(size)
    backend.write(state)
    document_bytes = len(dump(state))
    lock = LockInfo.new("deploy")
    backend.lock(STACK, lock)
    executor = Executor(backend, state)
    times: list[float] = []
    for n in range(writes // 2):
        times += executor.operation(n, size)
    per_record = journal_size() / max(1, len(times))
    started = time.perf_counter()
    backend.unlock(STACK, lock.id)  # compacts the journal, keeps the final version
    compaction = time.perf_counter() - started
    records_between = max(local_module.COMPACT_BYTES, document_bytes // 2) / max(per_record, 1)
    whole_times = []
    for _ in range(whole_writes):
        started = time.perf_counter()
        whole(state)
        whole_times.append(time.perf_counter() - started)
    times.sort()
    return {
        "backend": name,
        "size": size,
        "document_mb": document_bytes / 1e6,
        "record_bytes": per_record,
        "median_ms": statistics.median(times) * 1e3,
        "p95_ms": times[int(len(times) * 0.95)] * 1e3,
        "compaction_ms": compaction * 1e3,
        "amortized_ms": compaction * 1e3 / records_between,
        "whole_ms": statistics.median(whole_times) * 1e3,
    }


def local_figures(size: int, writes: int, whole_writes: int) -> dict[str, Any]:
    real_fsync = os.fsync
    # The same writes without waiting for the disk first: what a record costs the CPU.
    os.fsync = lambda fd: None
    try:
        unflushed = local_run(size, writes, 1)
    finally:
        os.fsync = real_fsync
    return {**local_run(size, writes, whole_writes), "cpu_ms": unflushed["median_ms"]}


def local_run(size: int, writes: int, whole_writes: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="journal-bench-"))
    try:
        journal = folder / "local" / f"{STACK}.journal"
        target = folder / "whole.json"
        return measure(
            "local",
            lambda: LocalBackend(folder, "local"),
            lambda: journal.stat().st_size if journal.exists() else 0,
            lambda state: write_atomic(target, dump(state)),
            size,
            writes,
            whole_writes,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def s3_figures(endpoint: str, size: int, writes: int, whole_writes: int) -> dict[str, Any]:
    clients = S3Clients("us-east-1", endpoint)
    s3 = clients.client("s3")
    bucket = f"journal-bench-{size}-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    prefix = f"local/{STACK}.journal/"

    def journal_size() -> int:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return sum(int(item["Size"]) for item in listed)

    def whole(state: StackState) -> None:
        s3.put_object(Bucket=bucket, Key="whole.json", Body=dump(state))

    return measure(
        "s3 (moto)",
        lambda: S3Backend(bucket, "", "local", clients),
        journal_size,
        whole,
        size,
        writes,
        whole_writes,
    )


DRIVER = """
import json, sys, time
from infradsl.state.local import LocalBackend

count, spent = [0], [0.0]
real = LocalBackend.write

def write(self, state):
    started = time.perf_counter()
    try:
        real(self, state)
    finally:
        count[0] += 1
        spent[0] += time.perf_counter() - started

LocalBackend.write = write
from infradsl.cli.main import cli

started = time.perf_counter()
try:
    cli.main(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
wall = time.perf_counter() - started
print(json.dumps({"code": code, "wall": wall, "writes": count[0], "spent": spent[0]}),
      file=sys.stderr)
"""

# Elastic IPs, not security groups: moto's CreateSecurityGroup walks the VPC's groups
# without a lock, and with a thousand and more of them concurrent calls fail (HTTP 500,
# "dictionary changed size during iteration").
APP = """\
from infradsl import App, Stack
from infradsl.aws import ec2

app = App()
stack = Stack(app, "{stack}", region="us-east-1")
ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
for i in range({addresses}):
    ec2.ElasticIp(stack, f"Eip{{i}}")
"""


def deploy_figures(size: int, root: Path, timeout: float) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="journal-deploy-"))
    port = free_port()
    server = spawn(port)
    try:
        (folder / "app.py").write_text(APP.format(stack=STACK, addresses=size - 1))
        env = {
            **os.environ,
            "INFRADSL_LOCAL_ENDPOINT": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONPATH": str(root),
        }
        args = ["--state", str(folder / "state"), "deploy", "app.py", "--yes"]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-c", DRIVER, *args],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"size": size, "timeout": timeout}
        elapsed = time.perf_counter() - started
        report = json.loads(done.stderr.strip().splitlines()[-1])
        state = LocalBackend(folder / "state", "local").read(STACK)
        return {
            "size": size,
            "code": report["code"],
            "process_s": elapsed,
            "deploy_s": report["wall"],
            "writes": report["writes"],
            "write_s": report["spent"],
            "tracked": len(state.resources) if state else 0,
            "tail": done.stdout.strip().splitlines()[-1:] or done.stderr.splitlines()[-3:],
        }
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 5000, 20000])
    parser.add_argument("--writes", type=int, default=200, help="journal writes per size")
    parser.add_argument("--s3-writes", type=int, default=40, help="journal writes on S3")
    parser.add_argument("--whole", type=int, default=5, help="whole-document writes per size")
    parser.add_argument("--no-s3", action="store_true")
    parser.add_argument("--deploy", type=int, default=2000, help="resources of the deploy")
    parser.add_argument("--no-deploy", action="store_true")
    parser.add_argument(
        "--deploy-root",
        type=Path,
        default=ROOT,
        help="run the deploy with infradsl from this source tree (an export of an older "
        "commit, for comparison)",
    )
    parser.add_argument("--deploy-timeout", type=float, default=1800.0, help="seconds")
    options = parser.parse_args()

    rows = [local_figures(size, options.writes, options.whole) for size in options.sizes]
    if not options.no_s3:
        port = free_port()
        server = spawn(port)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            for size in options.sizes:
                rows.append(s3_figures(endpoint, size, options.s3_writes, min(3, options.whole)))
        finally:
            server.kill()
            server.wait()

    header = (
        f"{'backend':<10} {'resources':>9} {'document':>9} {'record':>7} "
        f"{'journal write':>14} {'p95':>8} {'no fsync':>9} {'compaction':>11} {'share':>7} "
        f"{'whole document':>15}"
    )
    print(header)
    for row in rows:
        cpu = f"{row['cpu_ms']:>6.2f} ms" if "cpu_ms" in row else f"{'-':>9}"
        print(
            f"{row['backend']:<10} {row['size']:>9,} {row['document_mb']:>7.2f}MB "
            f"{row['record_bytes']:>6.0f}B {row['median_ms']:>11.2f} ms {row['p95_ms']:>5.2f} ms "
            f"{cpu} {row['compaction_ms']:>8.0f} ms {row['amortized_ms']:>4.2f}ms "
            f"{row['whole_ms']:>12.1f} ms"
        )
    print(
        "journal write: median per record (snapshot + write); no fsync: the same without "
        "waiting for the disk; share: the compaction's cost per record between two "
        "compactions; whole document: one write of the whole state"
    )

    local_rows = [r for r in rows if r["backend"] == "local"]
    growth = local_rows[-1]["median_ms"] / local_rows[0]["median_ms"]
    print(
        f"local journal write at {local_rows[-1]['size']:,} / at {local_rows[0]['size']:,} "
        f"resources: {growth:.2f}x (target <= {GROWTH_TARGET}x)"
    )

    if not options.no_deploy:
        deployed = deploy_figures(options.deploy, options.deploy_root, options.deploy_timeout)
        if "timeout" in deployed:
            print(
                f"deploy of {deployed['size']:,} resources on the local cloud: did not finish "
                f"in {deployed['timeout']:.0f} s"
            )
            return 1
        print(
            f"deploy of {deployed['size']:,} resources on the local cloud (1 VPC, "
            f"{deployed['size'] - 1:,} elastic IPs, concurrency 10): "
            f"{deployed['deploy_s']:.1f} s in the CLI ({deployed['process_s']:.1f} s with "
            f"the interpreter), exit {deployed['code']}, {deployed['tracked']:,} resources in "
            f"state; {deployed['writes']:,} state writes took {deployed['write_s']:.1f} s"
        )
        if deployed["code"] != 0:
            print("\n".join(deployed["tail"]))
            return 1
    return 0 if growth <= GROWTH_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
