"""Replacing a server that holds data: the plan names the migration, or refuses."""

from __future__ import annotations

from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.errors import ValidationError
from infradsl.plan.change import Action, PlanError
from infradsl.plan.planner import plan_stack
from infradsl.plan.values import resolve
from infradsl.state.model import ResourceState, StackState
from infradsl.synth import synthesize


def document(image: str, *, volume: bool = False, **server: Any) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(
        stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24", availability_zone="us-east-1a"
    )
    db = ec2.Instance(stack, "Db", image=image, instance_type="t3.micro", subnet=subnet, **server)
    if volume:
        ec2.Volume(stack, "Data", availability_zone="us-east-1a", size=10, instance=db)
    return synthesize(app)["demo"]


def deployed(doc: dict[str, Any]) -> StackState:
    def lookup(stack: str | None, path: str, name: str) -> Any:
        return f"id-{path}" if name == "id" else f"{path}.{name}"

    resources = {
        path: ResourceState(
            entry["type"],
            f"id-{path}",
            entry["properties"],
            resolve(entry["properties"], lookup),
            {"id": f"id-{path}"},
            tuple(entry["depends_on"]),
            entry["options"],
        )
        for path, entry in doc["resources"].items()
    }
    return StackState("demo", "local", "us-east-1", 1, resources=resources)


OLD, NEW = "ami-00000000", "ami-11111111"


def test_a_plain_server_is_replaced_without_a_migration() -> None:
    plan = plan_stack(document(NEW), deployed(document(OLD)))
    (db,) = [c for c in plan.changes if c.path == "Db"]
    assert db.action is Action.REPLACE
    assert not any("migration" in r for r in db.reasons)


@pytest.mark.parametrize(
    ("server", "volume", "why"),
    [
        ({"stateful": True}, False, "Db is stateful and would be replaced"),
        ({}, True, "Db has its data on Data and would be replaced"),
    ],
)
def test_a_server_with_data_and_no_migration_is_refused_with_the_way_out(
    server: dict[str, Any], volume: bool, why: str
) -> None:
    with pytest.raises(PlanError) as caught:
        plan_stack(
            document(NEW, volume=volume, **server), deployed(document(OLD, volume=volume, **server))
        )
    message = str(caught.value)
    assert message.startswith("refused, nothing was changed: ")
    assert why in message
    assert "'image' forces replacement" in message
    assert "migration=ec2.Migration(command='./migrate.sh')" in message


def test_a_replacement_with_a_migration_names_it_and_the_volumes_it_moves() -> None:
    migration = ec2.Migration(command="sh migrate.sh")
    plan = plan_stack(
        document(NEW, volume=True, stateful=True, migration=migration),
        deployed(document(OLD, volume=True, stateful=True, migration=migration)),
    )
    by_path = {c.path: c for c in plan.changes}
    assert by_path["Db"].action is Action.REPLACE
    assert "with migration: command 'sh migrate.sh', moving Data" in by_path["Db"].reasons
    assert by_path["Data"].action is Action.UPDATE


def test_adding_a_migration_to_a_running_server_is_an_update_not_a_replacement() -> None:
    plan = plan_stack(
        document(OLD, stateful=True, migration=ec2.Migration(command="true")),
        deployed(document(OLD, stateful=True)),
    )
    (db,) = [c for c in plan.changes if c.path == "Db"]
    assert db.action is Action.UPDATE


def test_a_migration_needs_exactly_one_of_hook_and_command() -> None:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24")
    ec2.Instance(
        stack,
        "Db",
        image=OLD,
        instance_type="t3.micro",
        subnet=subnet,
        migration=ec2.Migration(),
    )
    with pytest.raises(ValidationError, match="needs exactly one of hook= and command="):
        synthesize(app)
