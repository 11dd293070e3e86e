"""Code generation for `infradsl import`: from an inventory to a module a person would write,
and the state that adopts it (no cloud: inventories are built by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infradsl.engine.importer import (
    ADOPTED,
    ImportFailedError,
    adoption_state,
    prepare,
    synthesize_source,
)
from infradsl.plan.change import Action
from infradsl.plan.planner import plan_stack
from infradsl.providers.aws.codegen import construct_id, generate
from infradsl.providers.discovery import Discovered, Inventory, Skipped
from infradsl.providers.handler import ReadResult


def _res(type_name: str, pid: str, props: dict[str, Any], **kw: Any) -> Discovered:
    return Discovered(
        type=type_name,
        physical_id=pid,
        properties=props,
        attributes={"id": pid, "arn": f"arn:{pid}"},
        **kw,
    )


def _rule(port: int, source: str, **extra: Any) -> dict[str, Any]:
    return {"protocol": "tcp", "from_port": port, "to_port": port, "source": source, **extra}


VPC = _res(
    "aws.ec2.Vpc",
    "vpc-1",
    {
        "cidr_block": "10.0.0.0/16",
        "instance_tenancy": "default",
        "enable_dns_support": True,
        "enable_dns_hostnames": False,
    },
    tags={"Name": "prod", "team": "db"},
    name="prod",
)
SUBNET = _res(
    "aws.ec2.Subnet",
    "subnet-1",
    {
        "vpc": "vpc-1",
        "cidr_block": "10.0.1.0/24",
        "availability_zone": "us-east-1a",
        "map_public_ip_on_launch": False,
    },
    name="data",
)
APP = _res(
    "aws.ec2.SecurityGroup",
    "sg-1",
    {
        "vpc": "vpc-1",
        "description": "app",
        "group_name": "app",
        "ingress": [_rule(8080, "sg-2"), _rule(22, "0.0.0.0/0")],
        "egress": None,
    },
    name="app",
)
DB = _res(
    "aws.ec2.SecurityGroup",
    "sg-2",
    {
        "vpc": "vpc-1",
        "description": "database",
        "group_name": "db",
        "ingress": [_rule(5432, "sg-1", description="from app"), _rule(5432, "sg-2")],
        "egress": [],
    },
    name="db",
)
SERVER = _res(
    "aws.ec2.Instance",
    "i-1",
    {
        "image": "ami-0a1b2c3d",
        "instance_type": "t3.large",
        "subnet": "subnet-1",
        "security_groups": ["sg-2"],
        "require_imdsv2": False,
        "monitoring": False,
        "root_volume_size": 8,
        "root_volume_type": "gp2",
        "root_volume_encrypted": False,
    },
    tags={"Name": "db"},
    name="db",
)
INVENTORY = Inventory(
    region="us-east-1",
    resources=(VPC, SUBNET, APP, DB, SERVER),
    skipped=(Skipped("rtb-9", "main route table", "created by AWS with the VPC"),),
    images={"ami-0a1b2c3d": "ubuntu-22.04"},
)


def _module(inventory: Inventory = INVENTORY) -> Any:
    return generate(inventory, stack="legacy", region="us-east-1", command="infradsl import")


def test_construct_ids_come_from_names_and_stay_unique() -> None:
    assert construct_id("legacy-db (old)") == "LegacyDbOld"
    generated = _module()
    # The server keeps "Db"; the group named "db" too gets its type's word.
    assert {path: pid for path, (_type, pid) in generated.paths.items()} == {
        "Prod": "vpc-1",
        "Data": "subnet-1",
        "App": "sg-1",
        "DbSg": "sg-2",
        "Db": "i-1",
    }


def test_a_role_and_its_profile_may_share_a_name() -> None:
    role = _res(
        "aws.iam.Role",
        "app",
        {"role_name": "app", "assumed_by": "ec2.amazonaws.com", "path": "/"},
        name="app",
    )
    profile = _res(
        "aws.iam.InstanceProfile", "app", {"profile_name": "app", "role": "app"}, name="app"
    )
    server = _res(
        "aws.ec2.Instance", "i-1", {**SERVER.properties, "instance_profile": "app"}, name="db"
    )
    inventory = Inventory(
        region="us-east-1", resources=(VPC, SUBNET, APP, DB, role, profile, server)
    )
    generated = _module(inventory)
    assert generated.paths["AppRole"] == ("aws.iam.Role", "app")
    assert generated.paths["AppProfile"] == ("aws.iam.InstanceProfile", "app")
    assert "role=app_role," in generated.source
    assert "instance_profile=app_profile," in generated.source
    document = synthesize_source(generated.source, "legacy.py")["legacy"]
    found = {r.key: r for r in inventory.resources}
    state = adoption_state(document, generated.paths, found, target="local")
    assert state.resources["AppProfile"].properties["role"] == "app"


def test_generated_code_passes_objects_and_leaves_defaults_out() -> None:
    source = _module().source
    assert "vpc=prod," in source and "subnet=data," in source
    assert "security_groups=[db_sg]" in source
    assert "instance_tenancy" not in source and "monitoring" not in source
    assert "root_volume_size" not in source and "map_public_ip_on_launch" not in source
    assert 'tags={"team": "db"}' in source and '"Name"' not in source.split("class")[1]
    assert 'DB_IMAGE = "ami-0a1b2c3d"' in source and "image=DB_IMAGE" in source
    assert "# - main route table rtb-9: created by AWS with the VPC" in source


def test_groups_that_admit_each_other_are_written_without_a_cycle() -> None:
    source = _module().source
    # db_sg names app (defined first); app's rule naming db_sg, and db_sg's own rule,
    # are appended once db_sg exists.
    assert source.index("app_sg = ec2.SecurityGroup(") < source.index("db_sg = ec2.SecurityGroup(")
    assert "app_sg.ingress.append(ec2.Rule.tcp(8080, source=db_sg))" in source
    assert "db_sg.ingress.append(ec2.Rule.tcp(5432, source=db_sg))" in source
    assert 'ec2.Rule.tcp(5432, source=app_sg, description="from app")' in source
    assert "egress=[]" in source


def test_generated_code_is_formatted_and_lint_clean(tmp_path: Path) -> None:
    path = tmp_path / "legacy.py"
    path.write_text(_module().source)
    for args in (
        ["check", "--isolated", "--select", "E,F,W,I,B,UP,SIM", str(path)],
        ["format", "--isolated", "--check", str(path)],
    ):
        done = subprocess.run([sys.executable, "-m", "ruff", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_adoption_state_has_the_synthesized_inputs_and_plans_no_change() -> None:
    generated = _module()
    document = synthesize_source(generated.source, "legacy.py")["legacy"]
    found = {r.key: r for r in INVENTORY.resources}
    state = adoption_state(document, generated.paths, found, target="local")
    db = state.resources["Db"]
    assert db.physical_id == "i-1" and db.options == {ADOPTED: True}
    assert db.inputs["subnet"] == {"ref": "Data.id"} and db.properties["subnet"] == "subnet-1"
    assert plan_stack(document, state).has_changes is False

    # Refreshed: the live tags lack infradsl's: adding them is adoption, not a change.
    live = {
        path: ReadResult(
            properties=found[key].properties, attributes=found[key].attributes, tags=found[key].tags
        )
        for path, key in generated.paths.items()
    }
    plan = plan_stack(document, state, live)
    assert not plan.has_changes
    adopting = {c.path for c in plan.adopting}
    assert adopting == set(generated.paths)
    assert all(c.action is Action.UPDATE and not c.diffs[0].drift for c in plan.adopting)


def test_a_value_the_code_cannot_say_is_refused() -> None:
    generated = _module()
    document = synthesize_source(generated.source, "legacy.py")["legacy"]
    found = {r.key: r for r in INVENTORY.resources}
    found[SUBNET.key] = _res(
        "aws.ec2.Subnet", "subnet-1", {**SUBNET.properties, "cidr_block": "10.0.9.0/24"}
    )
    with pytest.raises(ImportFailedError, match=r"Data\.cidr_block: code gives '10\.0\.1\.0/24'"):
        adoption_state(document, generated.paths, found, target="local")


def test_what_another_stack_manages_is_looked_up_or_left_out() -> None:
    """A VPC of another stack is looked up; its key pair is left out, and the server that
    uses it is imported without it."""
    managed_vpc = Discovered(**{**_fields(VPC), "managed_by": "network"})
    key = _res("aws.ec2.KeyPair", "ops", {"key_name": "ops", "public_key": "ssh-ed25519 AAAA"})
    server = _res("aws.ec2.Instance", "i-2", {**SERVER.properties, "key_pair": "ops"}, name="web")
    owned_key = Discovered(**{**_fields(key), "managed_by": "keys"})
    inventory, notes = prepare(
        Inventory(region="us-east-1", resources=(managed_vpc, SUBNET, owned_key, server, DB, APP))
    )
    kinds = {r.physical_id: r.lookup for r in inventory.resources}
    assert kinds == {"vpc-1": True, "subnet-1": False, "i-2": False, "sg-2": False, "sg-1": False}
    assert any("KeyPair ops: managed by infradsl stack 'keys'" in n for n in notes)
    # The server is imported without its key pair (optional), not left out.
    assert any(n.startswith("key_pair=ops of Instance i-2: ") for n in notes)
    (server_found,) = [r for r in inventory.resources if r.physical_id == "i-2"]
    assert "key_pair" not in server_found.properties
    source = generate(inventory, stack="s", region="us-east-1", command="c").source
    assert 'prod = ec2.Vpc.lookup(self, "Prod", id="vpc-1")' in source


def _fields(res: Discovered) -> dict[str, Any]:
    import attrs

    return attrs.asdict(res, recurse=False)


def test_what_refers_to_something_missing_is_left_out_with_what_uses_it() -> None:
    gone_subnet = _res("aws.ec2.Instance", "i-3", {**SERVER.properties, "subnet": "subnet-9"})
    volume = _res(
        "aws.ec2.Volume",
        "vol-1",
        {"availability_zone": "us-east-1a", "size": 10, "instance": "i-3"},
    )
    inventory, notes = prepare(
        Inventory(region="us-east-1", resources=(VPC, SUBNET, DB, APP, gone_subnet, volume))
    )
    kept = {r.physical_id: r for r in inventory.resources}
    assert "i-3" not in kept and "instance" not in kept["vol-1"].properties
    assert any(n.startswith("Instance i-3: it uses subnet-9") for n in notes)
