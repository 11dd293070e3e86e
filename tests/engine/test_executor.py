"""The engine on the fake cloud: order, replacement, rollback, options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.session import Session
from infradsl.plan.change import Action, PlanError
from infradsl.providers.fake import FakeCloud
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


def build(image: str = "ami-12345678", **web: Any) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24")
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0")])
    ec2.Instance(
        stack,
        "Web",
        image=image,
        instance_type="t3.micro",
        subnet=subnet,
        security_groups=[sg],
        **web,
    )
    return synthesize(app)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.cloud = FakeCloud()
        self.backend = LocalBackend(tmp_path / "state", "local")

    def session(self) -> Session:
        return Session(
            self.backend,
            target="local",
            clients_for=lambda region: self.cloud,
            handler_for=self.cloud.handler,
        )

    def deploy(self, documents: dict[str, Any], **kwargs: Any) -> Any:
        runs = self.session().apply(
            documents, operation="deploy", confirm=lambda plans: True, **kwargs
        )
        return runs[0]

    def state_file(self) -> bytes:
        return (self.backend.folder / "demo.json").read_bytes()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_resources_are_created_after_their_dependencies(world: World) -> None:
    run = world.deploy(build())
    assert run.result.status is Status.OK
    order = [path for op, path, _ in world.cloud.calls if op == "create"]
    assert order.index("Vpc") < order.index("Subnet") < order.index("Web")
    assert order.index("Sg") < order.index("Web")
    assert len(world.cloud.resources) == 4


def test_a_second_deploy_plans_no_changes_and_calls_nothing_mutating(world: World) -> None:
    world.deploy(build())
    before = len([c for c in world.cloud.calls if c[0] != "read"])
    run = world.deploy(build())
    assert not run.plan.has_changes
    assert len([c for c in world.cloud.calls if c[0] != "read"]) == before


def test_a_replacement_creates_the_new_instance_before_deleting_the_old(world: World) -> None:
    world.deploy(build())
    run = world.deploy(build(image="ami-87654321"))
    assert {c.path: c.action for c in run.plan.changes}["Web"] is Action.REPLACE
    web_calls = [(op, pid) for op, path, pid in world.cloud.calls if path == "Web"]
    assert [op for op, _ in web_calls[-2:]] == ["create", "delete"]
    assert web_calls[-1][1] != web_calls[-2][1]


def test_a_failure_rolls_back_created_resources_and_restores_the_state_file(
    world: World,
) -> None:
    world.deploy(build())
    before = world.state_file()
    snapshot = dict(world.cloud.resources)
    world.cloud.fail.add(("create", "Web"))
    run = world.deploy(build(image="ami-87654321"))
    assert run.result.status is Status.ROLLED_BACK
    assert world.cloud.resources == snapshot
    assert world.state_file() == before


def test_a_failure_on_a_fresh_deploy_leaves_no_state_and_no_resource(world: World) -> None:
    world.cloud.fail.add(("create", "Web"))
    run = world.deploy(build())
    assert run.result.status is Status.ROLLED_BACK
    assert world.cloud.resources == {}
    assert not (world.backend.folder / "demo.json").exists()
    deletes = [path for op, path, _ in world.cloud.calls if op == "delete"]
    assert deletes.index("Subnet") < deletes.index("Vpc"), "undo runs in reverse order"


def test_an_in_place_update_is_undone_with_the_old_properties(world: World) -> None:
    world.deploy(build())
    sg_id = next(i for i, (t, p) in world.cloud.owners.items() if p == "Sg")
    app_docs = build(image="ami-87654321")
    app_docs["demo"]["resources"]["Sg"]["properties"]["description"] = "Managed by infradsl"
    app_docs["demo"]["resources"]["Sg"]["properties"]["ingress"] = []
    world.cloud.fail.add(("create", "Web"))
    run = world.deploy(app_docs)
    assert run.result.status is Status.ROLLED_BACK
    assert world.cloud.resources[sg_id]["ingress"][0]["from_port"] == 443


def test_no_rollback_keeps_what_succeeded(world: World) -> None:
    world.cloud.fail.add(("create", "Web"))
    run = world.deploy(build(), rollback=False)
    assert run.result.status is Status.FAILED_NO_ROLLBACK
    assert len(world.cloud.resources) == 3
    assert set(world.backend.read("demo").resources) == {"Vpc", "Subnet", "Sg"}


def test_an_undo_that_fails_is_reported_as_an_incomplete_rollback(world: World) -> None:
    world.cloud.fail.update({("create", "Web"), ("delete", "Sg")})
    run = world.deploy(build())
    assert run.result.status is Status.ROLLBACK_INCOMPLETE
    assert any(
        line.startswith("Sg (") and "undoing the create failed" in line
        for line in run.result.leftovers
    )
    assert set(world.backend.read("demo").resources) == {"Sg"}, "what is left is tracked"


def test_a_protected_resource_is_never_replaced(world: World) -> None:
    world.deploy(build(protect=True))
    with pytest.raises(PlanError, match="Web is protected and would be replaced"):
        world.deploy(build(image="ami-87654321", protect=True))


def test_delete_before_replace_deletes_the_old_first(world: World) -> None:
    world.deploy(build(delete_before_replace=True))
    world.deploy(build(image="ami-87654321", delete_before_replace=True))
    web = [op for op, path, _ in world.cloud.calls if path == "Web" and op != "read"]
    assert web[-2:] == ["delete", "create"]


def test_destroy_deletes_dependents_first_and_retain_on_delete_forgets(world: World) -> None:
    world.deploy(build(retain_on_delete=True))
    runs = world.session().apply({"demo": None}, operation="destroy", confirm=lambda plans: True)
    assert runs[0].result.status is Status.OK
    deletes = [path for op, path, _ in world.cloud.calls if op == "delete"]
    assert deletes.index("Sg") < deletes.index("Vpc")
    assert deletes.index("Subnet") < deletes.index("Vpc")
    assert "Web" not in deletes
    assert [t for t, p in world.cloud.owners.values()] == ["aws.ec2.Instance"]
    assert world.backend.read("demo") is None, "a destroyed stack has no state left"


def test_an_alias_renames_without_replacing(world: World) -> None:
    world.deploy(build())
    docs = build()
    resources = docs["demo"]["resources"]
    entry = resources.pop("Web")
    entry["options"] = {"aliases": ["Web"]}
    resources["Frontend"] = entry
    run = world.deploy(docs)
    change = {c.path: c for c in run.plan.changes}["Frontend"]
    assert change.action is Action.UPDATE and change.previous_path == "Web"
    assert "Web" not in world.backend.read("demo").resources
    assert not [c for c in world.cloud.calls[-3:] if c[0] in ("create", "delete")]


def test_refresh_finds_resources_deleted_outside_and_creates_them_again(world: World) -> None:
    world.deploy(build())
    web_id = next(i for i, (t, p) in world.cloud.owners.items() if p == "Web")
    del world.cloud.resources[web_id]
    run = world.deploy(build())
    change = {c.path: c for c in run.plan.changes}["Web"]
    assert change.action is Action.CREATE and change.missing
    assert "missing from the cloud: created again" in change.reasons


def test_drift_in_an_in_place_property_is_planned_as_an_update(world: World) -> None:
    world.deploy(build())
    vpc_id = next(i for i, (t, p) in world.cloud.owners.items() if p == "Vpc")
    world.cloud.resources[vpc_id]["enable_dns_support"] = False
    plan = world.session().plan("demo", build()["demo"])
    change = {c.path: c for c in plan.changes}["Vpc"]
    assert change.action is Action.UPDATE
    assert change.diffs[0].drift and change.diffs[0].name == "enable_dns_support"


def two_stacks() -> dict[str, Any]:
    app = App()
    network = Stack(app, "network")
    vpc = ec2.Vpc(network, "Vpc", cidr_block="10.0.0.0/16")
    web = Stack(app, "web")
    ec2.Subnet(web, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24")
    return synthesize(app)


def test_stacks_deploy_producers_first_and_read_values_from_their_state(world: World) -> None:
    runs = world.session().apply(two_stacks(), operation="deploy", confirm=lambda plans: True)
    assert [r.plan.stack for r in runs] == ["network", "web"]
    vpc_id = world.backend.read("network").resources["Vpc"].physical_id
    subnet = world.backend.read("web").resources["Subnet"]
    assert subnet.properties["vpc"] == vpc_id


def test_a_stack_reading_from_an_undeployed_stack_is_refused_before_any_change(
    world: World,
) -> None:
    documents = two_stacks()
    with pytest.raises(
        PlanError,
        match=r"stack 'web' reads network/Vpc.id, but 'network' has "
        r"not deployed Vpc: deploy 'network' first",
    ):
        world.session().apply(
            {"web": documents["web"]}, operation="deploy", confirm=lambda plans: True
        )
    assert world.cloud.resources == {}
