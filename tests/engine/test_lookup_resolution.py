"""Lookups resolved by the session on the fake cloud: values, refusals, never touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Output, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.lookup import resolve_lookups
from infradsl.engine.session import Session
from infradsl.plan.change import Action
from infradsl.plan.lookup import LookedUp, LookupFailedError
from infradsl.providers.fake import FakeCloud
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


def app_in(tags: dict[str, str], cidr: str = "10.20.5.0/24") -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", tags=tags)
    ec2.Subnet(stack, "Workers", vpc=shared, cidr_block=cidr)
    Output(stack, "SharedVpc", shared.id)
    return synthesize(app)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.cloud = FakeCloud()
        self.backend = LocalBackend(tmp_path / "state", "local")
        self.vpc = self.cloud.add_existing(
            "aws.ec2.Vpc", {"cidr_block": "10.20.0.0/16"}, {"Name": "shared"}
        )

    def session(self) -> Session:
        return Session(
            self.backend,
            target="local",
            clients_for=lambda region: self.cloud,
            handler_for=self.cloud.handler,
        )

    def apply(self, documents: dict[str, Any], operation: str = "deploy") -> Any:
        return self.session().apply(documents, operation=operation, confirm=lambda plans: True)

    def mutating(self) -> list[tuple[str, str, str]]:
        return [c for c in self.cloud.calls if c[0] in ("create", "update", "delete")]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_the_plan_shows_what_was_looked_up_and_creates_only_the_new_subnet(world: World) -> None:
    (plan,) = world.session().plan_all(app_in({"Name": "shared"}))
    assert [(c.path, c.action) for c in plan.changes] == [("Workers", Action.CREATE)]
    assert plan.lookups == (
        LookedUp(
            path="Shared",
            type="aws.ec2.Vpc",
            query={"tags": {"Name": "shared"}},
            physical_id=world.vpc,
            values={
                "cidr_block": "10.20.0.0/16",
                "tags": {"Name": "shared"},
                "id": world.vpc,
                "arn": f"{world.vpc}.arn",
            },
            region="us-east-1",
        ),
    )
    assert plan.to_json()["lookups"][0]["physical_id"] == world.vpc
    assert world.mutating() == []


def test_deploy_uses_the_looked_up_id_and_destroy_leaves_the_vpc(world: World) -> None:
    (run,) = world.apply(app_in({"Name": "shared"}))
    assert run.result.status is Status.OK
    assert run.result.outputs == {"SharedVpc": world.vpc}
    state = world.backend.read("demo")
    assert state is not None and set(state.resources) == {"Workers"}
    subnet = state.resources["Workers"]
    # State records the value that was used, not the lookup.
    assert subnet.inputs["vpc"] == world.vpc
    assert subnet.properties["vpc"] == world.vpc
    assert world.cloud.resources[subnet.physical_id]["vpc"] == world.vpc

    (again,) = world.apply(app_in({"Name": "shared"}))
    assert not again.plan.has_changes

    (destroyed,) = world.apply({"demo": None}, operation="destroy")
    assert destroyed.result.status is Status.OK
    assert [c[0] for c in world.mutating()] == ["create", "delete"]
    assert world.vpc in world.cloud.resources
    assert world.backend.read("demo") is None


def test_a_lookup_that_finds_another_resource_replaces_what_uses_it(world: World) -> None:
    world.apply(app_in({"Name": "shared"}))
    world.cloud.tags[world.vpc] = {"Name": "old"}
    other = world.cloud.add_existing(
        "aws.ec2.Vpc", {"cidr_block": "10.20.0.0/16"}, {"Name": "shared"}
    )
    (plan,) = world.session().plan_all(app_in({"Name": "shared"}))
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert [(d.name, d.old, d.new) for d in change.diffs] == [("vpc", world.vpc, other)]


def test_a_lookup_that_finds_nothing_refuses_before_any_change(world: World) -> None:
    with pytest.raises(LookupFailedError) as info:
        world.apply(app_in({"Name": "missing"}))
    assert str(info.value) == (
        "refused, nothing was changed: the lookup demo/Shared (aws.ec2.Vpc) by tags "
        "Name=missing found nothing in us-east-1 (local)"
    )
    assert world.mutating() == []
    assert world.backend.read("demo") is None


def test_a_lookup_that_matches_several_names_them(world: World) -> None:
    second = world.cloud.add_existing(
        "aws.ec2.Vpc", {"cidr_block": "10.30.0.0/16"}, {"Name": "shared"}
    )
    with pytest.raises(LookupFailedError) as info:
        world.session().plan_all(app_in({"Name": "shar*"}))
    assert str(info.value) == (
        "refused, nothing was changed: the lookup demo/Shared (aws.ec2.Vpc) by tags "
        f"Name=shar* matched 2 in us-east-1 (local) ({world.vpc}, {second}); add criteria or "
        "give its id so that exactly one matches"
    )


def test_every_failed_lookup_is_reported_at_once_and_dependents_are_skipped(
    world: World,
) -> None:
    app = App()
    stack = Stack(app, "demo")
    private = ec2.Subnet.lookup(stack, "Private", tags={"Name": "private"})
    ec2.SecurityGroup(stack, "Sg", vpc=private.vpc)
    ec2.Vpc.lookup(stack, "Other", tags={"Name": "other"})
    with pytest.raises(LookupFailedError) as info:
        world.session().plan_all(synthesize(app))
    assert str(info.value) == (
        "refused, nothing was changed: the lookup demo/Other (aws.ec2.Vpc) by tags Name=other "
        "found nothing in us-east-1 (local); the lookup demo/Private (aws.ec2.Subnet) by tags "
        "Name=private found nothing in us-east-1 (local)"
    )


def test_a_lookup_can_use_the_values_of_another(world: World) -> None:
    subnet = world.cloud.add_existing(
        "aws.ec2.Subnet", {"vpc": world.vpc, "cidr_block": "10.20.1.0/24"}, {"Name": "private"}
    )
    app = App()
    stack = Stack(app, "demo")
    private = ec2.Subnet.lookup(stack, "Private", tags={"Name": "private"})
    ec2.SecurityGroup(stack, "Sg", vpc=private.vpc)
    (plan,) = world.session().plan_all(synthesize(app))
    assert [(f.path, f.physical_id) for f in plan.lookups] == [
        ("Private", subnet),
        ("Private/Vpc", world.vpc),
    ]
    assert plan.lookups[1].query == {"id": world.vpc}


def test_a_new_subnet_outside_the_looked_up_vpc_is_refused(world: World) -> None:
    with pytest.raises(LookupFailedError) as info:
        world.session().plan_all(app_in({"Name": "shared"}, cidr="10.99.1.0/24"))
    assert str(info.value) == (
        "refused, nothing was changed: in stack 'demo', Workers: 'cidr_block' 10.99.1.0/24 is "
        f"outside its VPC Shared ({world.vpc}, 10.20.0.0/16), which was looked up by tags "
        "Name=shared; pick a range inside it"
    )


def test_reading_a_value_the_lookup_does_not_have_is_refused(world: World) -> None:
    app = App()
    stack = Stack(app, "demo")
    shared = ec2.Vpc.lookup(stack, "Shared", tags={"Name": "shared"})
    Output(stack, "Tenancy", shared.instance_tenancy)
    with pytest.raises(LookupFailedError) as info:
        world.session().plan_all(synthesize(app))
    assert str(info.value) == (
        "refused, nothing was changed: Shared.instance_tenancy is read, but the lookup Shared "
        "(aws.ec2.Vpc) has no value 'instance_tenancy' (it has arn, cidr_block, id, tags)"
    )


def test_a_type_whose_handler_cannot_look_up_is_refused() -> None:
    document = {
        "stack": "demo",
        "region": "us-east-1",
        "resources": {},
        "outputs": {},
        "lookups": {"Bucket": {"type": "aws.s3.Bucket", "query": {"id": "logs"}}},
    }
    with pytest.raises(LookupFailedError) as info:
        resolve_lookups(document, clients_for=lambda r: FakeCloud(), handler_for=lambda t: object())
    assert str(info.value) == (
        "refused, nothing was changed: demo/Bucket: aws.s3.Bucket cannot be looked up"
    )


def test_a_document_without_lookups_is_returned_as_it_is() -> None:
    document = {"stack": "demo", "region": "us-east-1", "resources": {}, "outputs": {}}
    assert resolve_lookups(document, clients_for=lambda r: None, handler_for=lambda t: None) is (
        document
    )
