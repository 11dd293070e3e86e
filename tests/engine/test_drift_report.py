"""Drift reports from state, live reads and a VPC's inventory (no cloud: stubs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infradsl.engine.drift import detect_drift
from infradsl.providers.discovery import Discovered, Inventory, Scope, Skipped
from infradsl.providers.handler import ReadResult, system_tags
from infradsl.state.model import ResourceState, StackState

RULE = {"protocol": "tcp", "from_port": 22, "to_port": 22, "source": "10.0.0.0/8"}
OPEN = {"protocol": "tcp", "from_port": 3389, "to_port": 3389, "source": "0.0.0.0/0"}


def _state(adopted: bool = False) -> StackState:
    options = {"adopted": True} if adopted else {}
    return StackState(
        stack="web",
        target="local",
        region="us-east-1",
        resources={
            "Vpc": ResourceState(
                "aws.ec2.Vpc",
                "vpc-1",
                {},
                {"cidr_block": "10.0.0.0/16", "enable_dns_hostnames": False, "tags": {}},
                {"id": "vpc-1"},
                options=options,
            ),
            "Sg": ResourceState(
                "aws.ec2.SecurityGroup",
                "sg-1",
                {},
                {"vpc": "vpc-1", "ingress": [RULE], "tags": {"team": "web"}},
                {"id": "sg-1"},
                options=options,
            ),
            "Server": ResourceState(
                "aws.ec2.Instance", "i-1", {}, {"subnet": "subnet-1"}, {"id": "i-1"}
            ),
        },
    )


class _Session:
    def __init__(self, state: StackState, live: Mapping[str, ReadResult | None]) -> None:
        self.state = state
        self.live = live
        self.backend = self

    def read(self, name: str) -> StackState:
        return self.state

    def reach(self, region: str) -> None:
        pass

    def clients_for(self, region: str) -> Any:
        return None

    def refresh(self, state: StackState) -> Mapping[str, ReadResult | None]:
        return self.live

    def states(self) -> dict[str, StackState]:
        return {"web": self.state}


class _Discovery:
    def __init__(self, inventory: Inventory, details: Mapping[str, Mapping[str, Any]]) -> None:
        self.inventory = inventory
        self.extra = details
        self.scopes: list[Scope] = []

    def discover(self, clients: Any, region: str, scope: Scope) -> Inventory:
        self.scopes.append(scope)
        return self.inventory

    def details(
        self, clients: Any, type_name: str, physical_ids: Sequence[str]
    ) -> Mapping[str, Mapping[str, Any]]:
        return {i: self.extra[i] for i in physical_ids if i in self.extra}


def _tags(path: str, **own: str) -> dict[str, str]:
    return {**own, **system_tags("web", path)}


def _found(type_name: str, pid: str, **kw: Any) -> Discovered:
    return Discovered(type=type_name, physical_id=pid, properties={}, attributes={}, **kw)


INVENTORY = Inventory(
    region="us-east-1",
    resources=(
        _found("aws.ec2.Vpc", "vpc-1", vpc="vpc-1"),
        _found("aws.ec2.SecurityGroup", "sg-1", vpc="vpc-1"),
        _found("aws.ec2.Instance", "i-9", name="rogue", vpc="vpc-1"),
        _found("aws.ec2.Instance", "i-8", vpc="vpc-1", managed_by="other"),
        _found("aws.ec2.Subnet", "subnet-7", vpc="vpc-1", lookup=True),
    ),
    skipped=(
        Skipped("rtb-0", "main route table", "created by AWS with the VPC"),
        Skipped("acl-2", "network ACL", "infradsl has no network ACLs"),
    ),
    defaults=("rtb-0",),
)


def test_a_clean_stack_has_no_drift_and_full_coverage() -> None:
    live = {
        "Vpc": ReadResult({"cidr_block": "10.0.0.0/16"}, {}, _tags("Vpc")),
        "Sg": ReadResult({"vpc": "vpc-1", "ingress": [RULE]}, {}, _tags("Sg", team="web")),
        "Server": ReadResult({"subnet": "subnet-1"}, {}, _tags("Server")),
    }
    clean = Inventory(region="us-east-1", resources=INVENTORY.resources[:2])
    discovery = _Discovery(clean, {"vpc-1": {"enable_dns_hostnames": False}})
    report = detect_drift(_Session(_state(), live), discovery, "web")
    assert not report.drifted
    assert (report.managed, report.total, report.coverage) == (3, 3, 100.0)
    assert discovery.scopes == [Scope(vpc="vpc-1")]


def test_each_kind_of_drift_is_reported() -> None:
    live = {
        "Vpc": ReadResult({"cidr_block": "10.0.0.0/16"}, {}, _tags("Vpc")),
        "Sg": ReadResult({"vpc": "vpc-1", "ingress": [OPEN, RULE]}, {}, _tags("Sg", team="ops")),
        "Server": None,
    }
    discovery = _Discovery(INVENTORY, {"vpc-1": {"enable_dns_hostnames": True}})
    report = detect_drift(_Session(_state(), live), discovery, "web")
    assert report.drifted
    changed = {c.path: {p.name: p for p in c.properties} for c in report.changed}
    assert changed["Vpc"]["enable_dns_hostnames"].live is True
    ingress = changed["Sg"]["ingress"]
    assert (ingress.added, ingress.removed) == ((OPEN,), ())
    assert changed["Sg"]["tags"].added == ("team=ops",)
    assert [(g.path, g.physical_id) for g in report.deleted] == [("Server", "i-1")]
    # Another stack's instance is managed; a lookup and AWS's defaults are not in scope.
    (stray,) = report.unmanaged
    assert stray.physical_id == "i-9"
    assert stray.command == "infradsl import --id i-9 --region us-east-1 -o rogue.py"
    assert (report.managed, report.total) == (3, 4)
    assert report.notes == (
        "its VPCs also hold what infradsl has no type for (not counted): 1 network ACL",
    )
    data = report.to_json()
    assert data["coverage"] == {"managed": 3, "total": 4, "percent": 75.0}


def test_adopted_resources_are_not_drifted_for_lacking_infradsl_tags() -> None:
    live = {
        "Vpc": ReadResult({"cidr_block": "10.0.0.0/16"}, {}, {"Name": "legacy"}),
        "Sg": ReadResult({"vpc": "vpc-1", "ingress": [RULE]}, {}, {"team": "web"}),
        "Server": ReadResult({"subnet": "subnet-1"}, {}, _tags("Server")),
    }
    clean = Inventory(region="us-east-1", resources=INVENTORY.resources[:2])
    report = detect_drift(_Session(_state(adopted=True), live), _Discovery(clean, {}), "web")
    assert report.changed == ()


def test_a_stack_never_deployed_is_reported_as_such() -> None:
    class _Empty(_Session):
        def read(self, name: str) -> Any:
            return None

    report = detect_drift(_Empty(_state(), {}), _Discovery(INVENTORY, {}), "web")
    assert not report.drifted and report.notes == ("not deployed: no state to compare with",)
