"""What a plan shows is what a deploy does and records, on the fake cloud: option
changes, tag drift, renames (of resources and whole components) and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.session import Session, StackRun
from infradsl.plan.change import Action, Plan, PlanError
from infradsl.providers.fake import FakeCloud
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


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

    def deploy(self, documents: dict[str, Any]) -> StackRun:
        runs = self.session().apply(documents, operation="deploy", confirm=lambda plans: True)
        assert runs[0].result is not None and runs[0].result.status is Status.OK
        return runs[0]

    def destroy(self) -> StackRun:
        runs = self.session().apply({"demo": None}, operation="destroy", confirm=lambda p: True)
        return runs[0]

    def plan(self, documents: dict[str, Any]) -> Plan:
        return self.session().plan("demo", documents["demo"])

    def physical_id(self, path: str) -> str:
        return next(i for i, (_t, p) in self.cloud.owners.items() if p == path)

    def mutating(self) -> list[tuple[str, str, str]]:
        return [c for c in self.cloud.calls if c[0] in ("create", "update", "delete")]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def build(
    *,
    vpc_id: str = "Vpc",
    component: str | None = None,
    outputs: dict[str, Any] | None = None,
    **vpc: Any,
) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    scope: Construct = stack
    if component is not None:
        scope = Construct(stack, component)
        if component != "Net":
            scope.node.add_alias("Net")
    net = ec2.Vpc(scope, vpc_id, cidr_block="10.0.0.0/16", **vpc)
    subnet = ec2.Subnet(scope, "Subnet", vpc=net, cidr_block="10.0.1.0/24")
    ec2.Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet)
    for name, value in (outputs or {}).items():
        Output(stack, name, net.id if value == "vpc" else value)
    return synthesize(app)


def test_removing_protect_is_deployed_and_recorded_so_destroy_then_works(world: World) -> None:
    world.deploy(build(protect=True))
    with pytest.raises(PlanError, match="Vpc is protected and would be deleted"):
        world.destroy()
    run = world.deploy(build())
    assert {c.path: c.action for c in run.plan.changes}["Vpc"] is Action.UPDATE
    state = world.backend.read("demo")
    assert state is not None and "protect" not in state.resources["Vpc"].options
    assert not world.plan(build()).has_changes
    result = world.destroy().result
    assert result is not None and result.status is Status.OK
    assert world.cloud.resources == {}


def test_an_option_change_alone_makes_no_cloud_call(world: World) -> None:
    world.deploy(build())
    before = world.mutating()
    world.deploy(build(retain_on_delete=True))
    assert world.mutating() == before
    state = world.backend.read("demo")
    assert state is not None and state.resources["Vpc"].options == {"retain_on_delete": True}


def test_tags_removed_and_added_by_hand_are_planned_and_put_back(world: World) -> None:
    world.deploy(build(tags={"team": "web"}))
    tags = world.cloud.tags[world.physical_id("Vpc")]
    del tags["team"]
    tags["owner"] = "bob"
    del tags["Name"]

    plan = world.plan(build(tags={"team": "web"}))
    vpc = {c.path: c for c in plan.changes}["Vpc"]
    assert vpc.action is Action.UPDATE
    assert vpc.reasons == ("'tags' was changed outside infradsl",)

    world.deploy(build(tags={"team": "web"}))
    tags = world.cloud.tags[world.physical_id("Vpc")]
    assert tags["team"] == "web" and tags["Name"] == "demo/Vpc" and "owner" not in tags
    assert "infradsl:token" in tags, "the creation's token stays"
    assert not world.plan(build(tags={"team": "web"})).has_changes


def test_a_renamed_resource_keeps_its_dependents_and_gets_its_new_name_tags(
    world: World,
) -> None:
    world.deploy(build())
    vpc_id = world.physical_id("Vpc")
    before = world.mutating()
    run = world.deploy(build(vpc_id="Network", aliases=["Vpc"]))
    actions = {c.path: c.action for c in run.plan.changes}
    assert actions == {"Network": Action.UPDATE, "Subnet": Action.NOOP, "Web": Action.NOOP}
    assert [c[0] for c in world.mutating()[len(before) :]] == ["update"]
    tags = world.cloud.tags[vpc_id]
    assert (tags["Name"], tags["infradsl:path"]) == ("demo/Network", "Network")
    state = world.backend.read("demo")
    assert state is not None
    assert state.resources["Subnet"].inputs["vpc"] == {"ref": "Network.id"}
    assert not world.plan(build(vpc_id="Network", aliases=["Vpc"])).has_changes


def test_a_component_renamed_with_an_alias_is_kept_whole(world: World) -> None:
    world.deploy(build(component="Net"))
    before = world.mutating()
    run = world.deploy(build(component="Network"))
    actions = {c.path: c.action for c in run.plan.changes}
    assert actions == {
        "Network/Vpc": Action.UPDATE,
        "Network/Subnet": Action.UPDATE,
        "Web": Action.NOOP,
    }
    assert {c[0] for c in world.mutating()[len(before) :]} == {"update"}
    assert not world.plan(build(component="Network")).has_changes


def test_an_output_change_alone_is_planned_and_recorded(world: World) -> None:
    world.deploy(build(outputs={"VpcId": "vpc", "Region": "us-east-1"}))
    documents = build(outputs={"VpcId": "vpc", "Region": "eu-west-1", "Extra": "x"})
    plan = world.plan(documents)
    assert plan.has_changes and not plan.has_resource_changes
    assert plan.output_summary() == {"create": 1, "update": 1, "delete": 0}
    before = world.mutating()
    world.deploy(documents)
    assert world.mutating() == before
    state = world.backend.read("demo")
    assert state is not None and state.outputs["Region"] == "eu-west-1"
    assert not world.plan(documents).has_changes


def two_stacks(vpc_id: str = "Vpc", **vpc: Any) -> dict[str, Any]:
    app = App()
    network = Stack(app, "network")
    net = ec2.Vpc(network, vpc_id, cidr_block="10.0.0.0/16", **vpc)
    web = Stack(app, "web")
    ec2.Subnet(web, "Subnet", vpc=net, cidr_block="10.0.1.0/24")
    return synthesize(app)


def test_a_rename_in_a_producer_stack_keeps_the_consumers_resources(world: World) -> None:
    session = world.session()
    session.apply(two_stacks(), operation="deploy", confirm=lambda plans: True)
    subnet_id = world.physical_id("Subnet")
    before = world.mutating()

    runs = world.session().apply(
        two_stacks("Main", aliases=["Vpc"]), operation="deploy", confirm=lambda plans: True
    )
    web = {c.path: c for c in runs[1].plan.changes}["Subnet"]
    assert web.action is Action.UPDATE and not web.diffs
    assert web.reasons == ("'vpc' refers to network/Vpc, renamed to network/Main",)
    assert [(op, path) for op, path, _ in world.mutating()[len(before) :]] == [("update", "Main")]
    assert world.physical_id("Subnet") == subnet_id
    state = world.backend.read("web")
    assert state is not None
    assert state.resources["Subnet"].inputs["vpc"] == {"ref": "Main.id", "stack": "network"}
    plans = world.session().plan_all(two_stacks("Main", aliases=["Vpc"]))
    assert not any(p.has_changes for p in plans)
