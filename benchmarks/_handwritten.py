"""The hand-written deployer `benchmarks/deploy.py` compares infradsl with: plain boto3, a DAG.

It deploys "1 VPC + T tiers" (see `deploy.py`) the way a careful engineer would by hand:
a thread pool of ``--concurrency`` workers that submits each call as soon as its inputs
exist, one client, every resource tagged at creation, no waits (moto's resources are
available at once) and no reads:

    CreateVpc
    CreateSubnet i                  after the VPC
    CreateSecurityGroup i           after the VPC
    AuthorizeSecurityGroupIngress i after group i (and group i-1 when it is the source)
    RunInstances i                  after subnet i and group i

Run as its own process: ``python benchmarks/_handwritten.py --endpoint URL --tiers 20
--topology chain``. It imports only boto3 and the stdlib (not infradsl), and prints one
JSON line: the seconds spent importing and making the client, and deploying.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

STACK = "bench"
VPC_CIDR = "10.0.0.0/16"
IMAGE = "ami-12345678"


class Dag:
    """Runs ``fn(results)`` for each node once all its dependencies returned, on a pool.

    The first failure stops scheduling and is raised by `run` once the calls in flight end.
    """

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._nodes: dict[str, tuple[list[str], Callable[[dict[str, Any]], Any]]] = {}
        self._dependents: dict[str, list[str]] = {}
        # Guarded by _lock: results so far, unmet dependencies per node, calls in flight.
        self._lock = threading.Lock()
        self._results: dict[str, Any] = {}
        self._unmet: dict[str, int] = {}
        self._in_flight = 0
        self._error: BaseException | None = None
        self._done = threading.Event()

    def add(self, name: str, deps: Iterable[str], fn: Callable[[dict[str, Any]], Any]) -> None:
        self._nodes[name] = (list(deps), fn)
        for dep in self._nodes[name][0]:
            self._dependents.setdefault(dep, []).append(name)

    def run(self) -> dict[str, Any]:
        with self._lock:
            self._unmet = {name: len(deps) for name, (deps, _fn) in self._nodes.items()}
            for name, unmet in self._unmet.items():
                if not unmet:
                    self._submit(name)
        self._done.wait()
        self._pool.shutdown(wait=True)
        if self._error is not None:
            raise self._error
        missing = sorted(set(self._nodes) - set(self._results))
        if missing:
            raise RuntimeError(f"never ran (a dependency is not a node): {missing}")
        return self._results

    def _submit(self, name: str) -> None:  # the caller holds _lock
        self._in_flight += 1
        future = self._pool.submit(self._nodes[name][1], dict(self._results))
        future.add_done_callback(lambda f: self._finished(name, f))

    def _finished(self, name: str, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1
            error = future.exception()
            if error is not None:
                self._error = self._error or error
            elif self._error is None:
                self._results[name] = future.result()
                for dependent in self._dependents.get(name, []):
                    self._unmet[dependent] -= 1
                    if not self._unmet[dependent]:
                        self._submit(dependent)
            if self._in_flight == 0:
                self._done.set()


def tags(resource_type: str, path: str) -> list[dict[str, Any]]:
    pairs = {"Name": f"{STACK}/{path}", "infradsl:stack": STACK, "infradsl:path": path}
    return [
        {"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()]}
    ]


def build(dag: Dag, ec2: Any, tiers: int, chain: bool) -> None:
    """Add the topology's calls to ``dag``; each node returns the id it created."""
    dag.add(
        "vpc",
        [],
        lambda r: ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=tags("vpc", "Vpc"))["Vpc"][
            "VpcId"
        ],
    )
    for i in range(tiers):
        tier = f"Tier{i}"

        def subnet(r: dict[str, Any], i: int = i, tier: str = tier) -> str:
            return str(
                ec2.create_subnet(
                    VpcId=r["vpc"],
                    CidrBlock=f"10.0.{i}.0/24",
                    TagSpecifications=tags("subnet", f"{tier}/Subnet"),
                )["Subnet"]["SubnetId"]
            )

        def group(r: dict[str, Any], tier: str = tier) -> str:
            return str(
                ec2.create_security_group(
                    GroupName=f"{STACK}-{tier}-Sg",
                    Description="Managed by hand",
                    VpcId=r["vpc"],
                    TagSpecifications=tags("security-group", f"{tier}/Sg"),
                )["GroupId"]
            )

        source = f"sg{i - 1}" if chain and i > 0 else None

        def rule(r: dict[str, Any], i: int = i, source: str | None = source) -> None:
            permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
            if source is None:
                permission["IpRanges"] = [{"CidrIp": VPC_CIDR}]
            else:
                permission["UserIdGroupPairs"] = [{"GroupId": r[source]}]
            ec2.authorize_security_group_ingress(GroupId=r[f"sg{i}"], IpPermissions=[permission])

        def instance(r: dict[str, Any], i: int = i, tier: str = tier) -> str:
            return str(
                ec2.run_instances(
                    ImageId=IMAGE,
                    InstanceType="t3.micro",
                    MinCount=1,
                    MaxCount=1,
                    SubnetId=r[f"subnet{i}"],
                    SecurityGroupIds=[r[f"sg{i}"]],
                    TagSpecifications=tags("instance", f"{tier}/Server"),
                )["Instances"][0]["InstanceId"]
            )

        dag.add(f"subnet{i}", ["vpc"], subnet)
        dag.add(f"sg{i}", ["vpc"], group)
        dag.add(f"rule{i}", [f"sg{i}"] + ([source] if source else []), rule)
        dag.add(f"instance{i}", [f"subnet{i}", f"sg{i}"], instance)


def main() -> None:
    start = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--tiers", type=int, required=True)
    parser.add_argument("--topology", choices=["chain", "flat"], required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()

    import boto3
    from botocore.config import Config

    config = Config(
        region_name=args.region,
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=args.concurrency,
    )
    ec2 = boto3.client("ec2", endpoint_url=args.endpoint, config=config)
    ready = time.perf_counter()
    dag = Dag(args.concurrency)
    build(dag, ec2, args.tiers, args.topology == "chain")
    dag.run()
    end = time.perf_counter()
    print(json.dumps({"setup": ready - start, "deploy": end - ready}))


if __name__ == "__main__":
    main()
