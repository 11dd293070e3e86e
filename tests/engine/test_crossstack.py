"""Stacks that read from each other, on the fake cloud: order, propagation, refusals.

The producer is named ``net`` and the consumer ``app``, so name order (the order used
when no document is at hand) is the wrong one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.session import Session, StackRun, stack_order
from infradsl.plan.change import Action, Plan, PlanError
from infradsl.providers.fake import FakeCloud
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


def build(cidr: str = "10.0.1.0/24", *, with_app: bool = True) -> dict[str, Any]:
    """``net``: a VPC and a subnet; ``app``: a group in the VPC, an instance in the subnet."""
    app = App()
    net = Stack(app, "net")
    vpc = ec2.Vpc(net, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(net, "Public", vpc=vpc, cidr_block=cidr)
    if with_app:
        consumer = Stack(app, "app")
        sg = ec2.SecurityGroup(consumer, "Sg", vpc=vpc)
        ec2.Instance(
            consumer,
            "Web",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=subnet,
            security_groups=[sg],
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

    def apply(self, documents: dict[str, Any], operation: str = "deploy") -> list[StackRun]:
        return self.session().apply(
            documents,
            operation=operation,
            confirm=lambda plans: True,
            rollback=operation == "deploy",
        )

    def destroy(self, *stacks: str) -> list[StackRun]:
        return self.apply(dict.fromkeys(stacks), operation="destroy")

    def physical_id(self, stack: str, path: str) -> str:
        state = self.backend.read(stack)
        assert state is not None
        return state.resources[path].physical_id

    def mutations(self) -> list[tuple[str, str, str]]:
        return [c for c in self.cloud.calls if c[0] in ("create", "update", "delete")]


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    runs = world.apply(build())
    assert [r.plan.stack for r in runs] == ["net", "app"]
    assert all(r.result is not None and r.result.status is Status.OK for r in runs)
    return world


def changes(plan: Plan) -> dict[str, Action]:
    return {c.path: c.action for c in plan.changes}


def position(calls: list[tuple[str, str, str]], op: str, physical_id: str) -> int:
    return next(i for i, c in enumerate(calls) if c[0] == op and c[2] == physical_id)


# -- order ---------------------------------------------------------------------------------


def test_stacks_being_destroyed_are_ordered_by_the_references_in_their_state(
    world: World,
) -> None:
    assert stack_order({"app": None, "net": None}, world.session().states()) == ["net", "app"]


def test_destroy_deletes_the_consumers_resources_before_the_producers(world: World) -> None:
    web, sg = world.physical_id("app", "Web"), world.physical_id("app", "Sg")
    subnet, vpc = world.physical_id("net", "Public"), world.physical_id("net", "Vpc")
    start = len(world.cloud.calls)
    runs = world.destroy("app", "net")
    assert [r.plan.stack for r in runs] == ["app", "net"]
    calls = world.cloud.calls[start:]
    assert position(calls, "delete", web) < position(calls, "delete", subnet)
    assert position(calls, "delete", sg) < position(calls, "delete", vpc)
    assert world.cloud.resources == {}
    assert world.backend.read("app") is None and world.backend.read("net") is None


# -- refusing to destroy a producer under its consumers ------------------------------------


def test_destroying_a_producer_alone_is_refused_naming_its_consumers(world: World) -> None:
    before = dict(world.cloud.resources)
    subnet = world.physical_id("net", "Public")
    with pytest.raises(PlanError) as info:
        world.destroy("net")
    message = str(info.value)
    assert message.startswith(
        "refused, nothing was changed: destroying 'net' would delete resources that 'app' "
        "still uses: "
    )
    assert f"net/Public ({subnet}) is used by app/Web (reads Public.id)" in message
    assert "app/Sg (reads Vpc.id)" in message
    assert "destroy 'app' first (`infradsl destroy APP --stack app`)" in message
    assert "(`infradsl destroy APP` destroys every stack of the app, consumers first)" in message
    assert world.cloud.resources == before
    assert world.backend.read("net") is not None


def test_a_producer_can_be_destroyed_once_its_consumers_are_gone(world: World) -> None:
    world.destroy("app")
    runs = world.destroy("net")
    assert runs[0].result is not None and runs[0].result.status is Status.OK
    assert world.cloud.resources == {}


def test_removing_a_resource_that_another_stack_still_uses_is_refused(world: World) -> None:
    documents = build()
    del documents["net"]["resources"]["Public"]
    with pytest.raises(PlanError, match=r"no longer defines Public: remove the reference"):
        world.apply(documents)
    with pytest.raises(
        PlanError,
        match=r"deploying 'net' would delete resources that 'app' still uses: net/Public "
        r"\(subnet-\d+\) is used by app/Web \(reads Public.id\). To proceed, deploy 'app' "
        r"without those references first",
    ):
        world.apply({"net": documents["net"]})


# -- propagating a replacement to the consumers --------------------------------------------


def test_a_consumer_is_planned_from_a_replaced_producer_resource(world: World) -> None:
    plans = world.session().plan_all(build(cidr="10.0.2.0/24"))
    net, app = plans
    assert changes(net)["Public"] is Action.REPLACE
    assert changes(app) == {"Sg": Action.NOOP, "Web": Action.REPLACE}
    web = next(c for c in app.changes if c.path == "Web")
    assert web.reasons == (
        "'subnet' refers to net/Public, which is replaced",
        "'subnet' forces replacement",
    )
    assert web.diffs[0].known_after_deploy and web.diffs[0].forces_replacement


def test_a_replacement_is_deployed_to_the_consumer_before_the_old_half_is_deleted(
    world: World,
) -> None:
    old_subnet, old_web = world.physical_id("net", "Public"), world.physical_id("app", "Web")
    start = len(world.cloud.calls)
    runs = world.apply(build(cidr="10.0.2.0/24"))
    assert [r.result.status for r in runs if r.result] == [Status.OK, Status.OK]
    new_subnet, new_web = world.physical_id("net", "Public"), world.physical_id("app", "Web")
    calls = world.cloud.calls[start:]
    # new subnet, then the instance re-pointed at it, then the old instance, then the old subnet
    assert (
        position(calls, "create", new_subnet)
        < position(calls, "create", new_web)
        < position(calls, "delete", old_web)
        < position(calls, "delete", old_subnet)
    )
    state = world.backend.read("app")
    assert state is not None and state.resources["Web"].properties["subnet"] == new_subnet
    assert old_subnet not in world.cloud.resources
    assert not any(p.has_changes for p in world.session().plan_all(build(cidr="10.0.2.0/24")))


def test_a_producer_deployed_alone_keeps_what_its_consumer_still_uses(world: World) -> None:
    old_subnet = world.physical_id("net", "Public")
    (run,) = world.apply({"net": build(cidr="10.0.2.0/24")["net"]})
    assert run.result is not None and run.result.status is Status.OK
    assert run.result.kept == (
        f"net/Public#old ({old_subnet}) is kept: app/Web (reads Public.id) still uses it. "
        "Deploy 'app' (its plan re-points it), then deploy 'net' again to delete it",
    )
    assert old_subnet in world.cloud.resources

    # The consumer alone: planned from the producer's new value, then deployed.
    new_subnet = world.physical_id("net", "Public")
    plan = world.session().plan("app", build(cidr="10.0.2.0/24")["app"])
    web = next(c for c in plan.changes if c.path == "Web")
    assert web.action is Action.REPLACE
    assert web.diffs[0].old == old_subnet and web.diffs[0].new == new_subnet
    assert web.reasons[0] == (
        "'subnet' reads net/Public.id, which changed since this stack was deployed"
    )
    world.apply({"app": build(cidr="10.0.2.0/24")["app"]})

    # The producer again: the old half is no longer used, so it goes.
    (run,) = world.apply({"net": build(cidr="10.0.2.0/24")["net"]})
    assert changes(run.plan) == {
        "Vpc": Action.NOOP,
        "Public": Action.NOOP,
        "Public#old": Action.DELETE,
    }
    old_half = next(c for c in run.plan.changes if c.path == "Public#old")
    assert old_half.reasons == ("the old half of a replacement",)
    assert old_subnet not in world.cloud.resources
    assert not any(p.has_changes for p in world.session().plan_all(build(cidr="10.0.2.0/24")))


def test_a_consumer_that_fails_keeps_the_producers_old_half_until_it_is_repointed(
    world: World,
) -> None:
    old_subnet = world.physical_id("net", "Public")
    world.cloud.fail.add(("create", "Web"))
    runs = world.apply(build(cidr="10.0.2.0/24"))
    net, app = (r.result for r in runs)
    assert app is not None and app.status is Status.ROLLED_BACK
    assert net is not None and net.status is Status.OK and len(net.kept) == 1
    assert old_subnet in world.cloud.resources
    state = world.backend.read("app")
    assert state is not None and state.resources["Web"].properties["subnet"] == old_subnet

    # The next deploy re-points the consumer, then deletes the old half.
    plans = world.session().plan_all(build(cidr="10.0.2.0/24"))
    assert changes(plans[0])["Public#old"] is Action.DELETE
    assert changes(plans[1])["Web"] is Action.REPLACE
    runs = world.apply(build(cidr="10.0.2.0/24"))
    assert all(r.result is not None and r.result.status is Status.OK for r in runs)
    assert old_subnet not in world.cloud.resources
    assert not any(p.has_changes for p in world.session().plan_all(build(cidr="10.0.2.0/24")))


def test_a_stack_without_consumers_deletes_its_old_halves_at_once(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.apply(build(with_app=False))
    old = world.physical_id("net", "Public")
    (run,) = world.apply(build(cidr="10.0.2.0/24", with_app=False))
    assert run.result is not None and run.result.kept == ()
    assert old not in world.cloud.resources
