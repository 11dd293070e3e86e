"""Import benchmark: `infradsl import --vpc` of a hand-made VPC of N resources, local cloud.

What it measures
    A VPC built by hand with boto3 (not timed) in a moto server on a free port: the VPC,
    an internet gateway, a public route table, an IAM role with its instance profile, and
    T tiers of a /28 subnet, a security group (22 from 10.0.0.0/8, 5432 from the previous
    tier's group) and an instance in both that uses the profile: N = 5 + 3*T resources.

    Timed: `infradsl import --vpc VPC -o bench.py` as a user runs it (a fresh process:
    interpreter start, discovery, code generation, synthesis of the generated module,
    state), then `infradsl plan bench.py --detailed-exitcode` (it must exit 0: no
    changes). Then the import runs again in this process with every API call counted, to
    show that reads are batched (calls per operation do not grow with N).

Run it (stdlib + infradsl's dependencies):
    python benchmarks/import.py                 # 500 resources
    python benchmarks/import.py --size 200
Exit status: 0 when the import of 500 or more resources takes under 30 s and its plan
shows no changes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TARGET_S = 30.0
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def build(endpoint: str, tiers: int) -> str:
    """The hand-made VPC; returns its id."""
    ec2, iam = _client(endpoint, "ec2"), _client(endpoint, "iam")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    iam.create_role(RoleName="bench-app", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="bench-app")
    iam.add_role_to_instance_profile(InstanceProfileName="bench-app", RoleName="bench-app")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    groups: list[str] = []
    subnets: list[str] = []
    for i in range(tiers):
        name = {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"tier-{i}"}]}
        subnets.append(
            ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=f"10.0.{i // 16}.{i % 16 * 16}/28",
                AvailabilityZone="us-east-1a",
                TagSpecifications=[name],
            )["Subnet"]["SubnetId"]
        )
        group = ec2.create_security_group(
            GroupName=f"tier-{i}", Description=f"tier {i}", VpcId=vpc
        )["GroupId"]
        source: dict[str, Any] = (
            {"UserIdGroupPairs": [{"GroupId": groups[-1]}]}
            if groups
            else {"IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
        )
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                },
                {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, **source},
            ],
        )
        groups.append(group)
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnets[0])

    def launch(i: int) -> None:
        ec2.run_instances(
            ImageId=image,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[i],
            SecurityGroupIds=[groups[i]],
            IamInstanceProfile={"Name": "bench-app"},
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"server-{i}"}]}
            ],
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(launch, range(tiers)))
    return vpc


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "infradsl", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def _counted_import(endpoint: str, vpc: str, folder: Path) -> collections.Counter[str]:
    """The import again, in this process, counting every API call by operation."""
    from infradsl.cli.main import main
    from infradsl.providers.aws.clients import add_event_hook

    calls: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def hook(event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        with lock:
            calls[f"{service}.{operation}"] += 1

    remove = add_event_hook("before-call", hook)
    cwd = os.getcwd()
    saved = {k: os.environ.get(k) for k in ("INFRADSL_LOCAL_ENDPOINT", "INFRADSL_STATE")}
    os.environ["INFRADSL_LOCAL_ENDPOINT"] = endpoint  # never the default local cloud
    os.environ["INFRADSL_STATE"] = str(folder / "state2")
    os.chdir(folder)
    try:
        main(["import", "--vpc", vpc, "-o", "again.py"])
    except SystemExit as done:
        if done.code not in (0, None):
            raise RuntimeError(f"the counted import failed with exit {done.code}") from None
    finally:
        os.chdir(cwd)
        remove()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="resources in the VPC")
    options = parser.parse_args()
    tiers = max(1, (options.size - 5) // 3)
    size = 5 + 3 * tiers

    import logging

    from moto.server import ThreadedMotoServer

    from infradsl.local.server import EMULATOR_ENV, free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for key, value in EMULATOR_ENV.items():
        os.environ.setdefault(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="infradsl-import-bench-"))
    try:
        started = time.perf_counter()
        vpc = build(endpoint, tiers)
        print(f"built a hand-made VPC of {size} resources in {time.perf_counter() - started:.1f} s")
        env = {
            **os.environ,
            "INFRADSL_LOCAL_ENDPOINT": endpoint,
            "INFRADSL_STATE": str(folder / "state"),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        seconds, code, out = _cli(["import", "--vpc", vpc, "-o", "bench.py"], env, folder)
        if code != 0:
            print(out, file=sys.stderr)
            return 1
        print(out.strip().splitlines()[0])
        plan_s, plan_code, plan_out = _cli(["plan", "bench.py", "--detailed-exitcode"], env, folder)
        lines = (folder / "bench.py").read_text().count("\n")
        print(f"import  {seconds:6.2f} s   ({lines} lines of code written)")
        verdict = "no changes" if plan_code == 0 else "CHANGES"
        print(f"plan    {plan_s:6.2f} s   exit {plan_code} ({verdict})")
        if plan_code != 0:
            print(plan_out[-3000:], file=sys.stderr)
        calls = _counted_import(endpoint, vpc, folder)
        print(f"API calls of one import: {sum(calls.values())}")
        for operation, count in sorted(calls.items()):
            print(f"  {operation:<48} {count}")
        ok = plan_code == 0 and (size < 500 or seconds < TARGET_S)
        print(
            f"{'PASS' if ok else 'FAIL'}: import of {size} resources in {seconds:.1f} s "
            f"(target < {TARGET_S:.0f} s at 500), first plan "
            f"{'shows no changes' if plan_code == 0 else 'has changes'}"
        )
        return 0 if ok else 1
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
