"""Helpers for integration tests: snapshots of what a stack owns, API call recording,
fault injection through botocore hooks, and running the CLI in-process."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from infradsl.cli.main import main
from infradsl.providers.aws.clients import add_event_hook

MUTATING_PREFIXES = (
    "Create",
    "Run",
    "Allocate",
    "Associate",
    "Attach",
    "Authorize",
    "Put",
    "Modify",
    "Import",
    "Add",
    "Delete",
    "Terminate",
    "Detach",
    "Revoke",
    "Release",
    "Disassociate",
    "Update",
    "Tag",
    "Untag",
    "Remove",
    "Replace",
    "Restore",
    "Stop",
    "Start",
    "Copy",
    "Deregister",
    "Register",
)


WEBAPP = Path(__file__).resolve().parents[2] / "examples" / "webapp" / "app.py"


def webapp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "p") -> Path:
    """A folder ``name`` holding a copy of the webapp example, made the working directory,
    with its own state directory (``INFRADSL_STATE``)."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(WEBAPP, folder / "app.py")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("INFRADSL_STATE", str(folder / "state"))
    return folder


def is_mutating(operation: str) -> bool:
    return operation.startswith(MUTATING_PREFIXES) and operation != "GetRandomPassword"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


class Recorder:
    """Records every API call as (service, operation, params) in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.calls.append((service, operation, dict(params)))

    def mutating(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Mutating calls of the deploy (not the local cloud's own instance marker in SSM)."""
        return [c for c in self.calls if is_mutating(c[1]) and c[0] != "ssm"]

    def operations(self) -> list[str]:
        return [f"{s}.{o}" for s, o, _ in self.calls]


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    remove = add_event_hook("before-parameter-build", recorder)
    try:
        yield recorder
    finally:
        remove()


class FakeHttp:
    """The HTTP response of a failure injected by a ``before-call`` hook (botocore reads
    only these fields)."""

    status_code = 400
    headers: dict[str, str] = {}
    content = b""
    text = ""


@contextmanager
def failing(service: str, operation: str, occurrence: int = 1) -> Iterator[list[int]]:
    """Make the ``occurrence``-th call of ``service.operation`` fail with a definite error
    (HTTP 400: the cloud did not act; a 5xx would be retried, see ``faults.py``)."""
    seen = [0]
    lock = threading.Lock()

    def hook(**_: Any) -> Any:
        with lock:
            seen[0] += 1
            hit = seen[0] == occurrence
        if hit:
            return FakeHttp(), {
                "Error": {"Code": "InjectedFailure", "Message": f"injected failure of {operation}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    remove = add_event_hook(f"before-call.{service}.{operation}", hook)
    try:
        yield seen
    finally:
        remove()


def snapshot(cloud: Any, stack: str) -> dict[str, Any]:
    """Everything in the local cloud that belongs to ``stack``, without volatile fields:
    the webapp's types in detail (rules, routes, attachments), the others as `owned`
    lists them."""
    ec2 = cloud.client("ec2")
    tag = [{"Name": "tag:infradsl:stack", "Values": [stack]}]
    snap: dict[str, Any] = {}
    snap["vpcs"] = sorted(v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"])
    snap["subnets"] = sorted(
        (s["SubnetId"], s["CidrBlock"], s["VpcId"])
        for s in ec2.describe_subnets(Filters=tag)["Subnets"]
    )
    snap["igws"] = sorted(
        (g["InternetGatewayId"], tuple(a["VpcId"] for a in g.get("Attachments", [])))
        for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]
    )
    snap["nats"] = sorted(
        n["NatGatewayId"]
        for n in ec2.describe_nat_gateways(Filter=tag)["NatGateways"]
        if n["State"] not in ("deleted", "deleting")
    )
    snap["eips"] = sorted(
        a["AllocationId"] for a in ec2.describe_addresses(Filters=tag)["Addresses"]
    )
    snap["route_tables"] = sorted(
        (
            t["RouteTableId"],
            tuple(sorted(a.get("SubnetId", "") for a in t.get("Associations", []))),
            tuple(sorted(json.dumps(r, sort_keys=True, default=str) for r in t.get("Routes", []))),
        )
        for t in ec2.describe_route_tables(Filters=tag)["RouteTables"]
    )
    snap["groups"] = sorted(
        (
            g["GroupId"],
            json.dumps(g.get("IpPermissions", []), sort_keys=True, default=str),
        )
        for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]
    )
    snap["instances"] = sorted(
        (i["InstanceId"], i["ImageId"], i["State"]["Name"])
        for r in ec2.describe_instances(Filters=tag)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    )
    iam = cloud.client("iam")
    prefix = f"{stack}-"
    snap["roles"] = sorted(
        (
            r["RoleName"],
            tuple(
                sorted(
                    p["PolicyArn"]
                    for p in iam.list_attached_role_policies(RoleName=r["RoleName"])[
                        "AttachedPolicies"
                    ]
                )
            ),
        )
        for r in iam.list_roles()["Roles"]
        if r["RoleName"].startswith(prefix)
    )
    snap["policies"] = sorted(
        p["Arn"]
        for p in iam.list_policies(Scope="Local")["Policies"]
        if p["PolicyName"].startswith(prefix)
    )
    snap["profiles"] = sorted(
        (p["InstanceProfileName"], tuple(r["RoleName"] for r in p["Roles"]))
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"].startswith(prefix)
    )
    secrets = cloud.client("secretsmanager")
    snap["secrets"] = sorted(
        s["ARN"]
        for s in secrets.list_secrets()["SecretList"]
        if s["Name"].startswith(prefix) and not s.get("DeletedDate")
    )
    # Every other type a handler lists (buckets, volumes, key pairs, standalone rules,
    # images...), by id and path, so that no type escapes a comparison.
    snap["others"] = [entry for entry in owned(cloud, stack) if entry[0] not in _DETAILED]
    return snap


# The types `snapshot` describes in detail above.
_DETAILED = frozenset(
    {
        "aws.ec2.Vpc",
        "aws.ec2.Subnet",
        "aws.ec2.InternetGateway",
        "aws.ec2.NatGateway",
        "aws.ec2.ElasticIp",
        "aws.ec2.RouteTable",
        "aws.ec2.SecurityGroup",
        "aws.ec2.Instance",
        "aws.iam.Role",
        "aws.iam.Policy",
        "aws.iam.InstanceProfile",
        "aws.secrets.Secret",
    }
)


def tagged_count(snap: dict[str, Any]) -> int:
    return sum(len(v) for v in snap.values())


def state_bytes(state_dir: Path) -> dict[str, bytes]:
    """Every state document (not history) under a state directory, by relative path."""
    if not state_dir.exists():
        return {}
    return {
        str(p.relative_to(state_dir)): p.read_bytes()
        for p in sorted(state_dir.rglob("*.json"))
        if ".versions" not in p.relative_to(state_dir).parts
    }


def owned(cloud: Any, stack: str, region: str = "us-east-1") -> list[tuple[str, str, str]]:
    """(type, physical id, infradsl:path) of every live resource tagged with ``stack``.

    Listed through every handler's ``list_stack`` (the same listing ``state reconcile``
    uses), so it sees every type the handlers know: buckets, volumes, key pairs and
    standalone rules included.
    """
    from infradsl.providers.aws import handler_for
    from infradsl.providers.aws.clients import Clients
    from infradsl.providers.aws.registry import handlers
    from infradsl.providers.handler import HandlerContext

    ctx = HandlerContext(
        stack=stack, path="", region=region, clients=Clients(region, cloud.endpoint)
    )
    found: list[tuple[str, str, str]] = []
    for type_name in handlers():
        for physical_id, path in handler_for(type_name).list_stack(ctx).items():
            found.append((type_name, physical_id, path))
    return sorted(found)


@contextmanager
def failing_nth_mutating(n: int | None) -> Iterator[None]:
    """Make the n-th mutating call (of any service but SSM) fail; ``None`` fails nothing."""
    if n is None:
        yield
        return
    seen = [0]
    lock = threading.Lock()

    def hook(event_name: str, **_: Any) -> Any:
        _, service, operation = event_name.split(".", 2)
        if service == "ssm" or not is_mutating(operation):
            return None
        with lock:
            seen[0] += 1
            hit = seen[0] == n
        if hit:
            return FakeHttp(), {
                "Error": {"Code": "InjectedFailure", "Message": f"injected failure of {operation}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    remove = add_event_hook("before-call", hook)
    try:
        yield
    finally:
        remove()
