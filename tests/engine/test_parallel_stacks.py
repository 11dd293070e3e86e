"""Stacks that do not read from each other are applied side by side; a stack that reads
from another waits for it; the first failure stops the stacks not started yet.

Parallelism is proven with a barrier, not with timings: the VPC creates of two stacks
wait for each other, so applying the stacks one after the other would break the barrier
(after its timeout) and fail the deploy.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.events import Event
from infradsl.engine.executor import Status
from infradsl.engine.session import Session, StackRun
from infradsl.providers.fake import FakeCloud, FakeHandler
from infradsl.providers.handler import CreateResult, HandlerContext
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize

VPC = "aws.ec2.Vpc"


class Gated:
    """A fake handler whose creates and deletes of one type run ``before(stack)`` first."""

    def __init__(self, inner: FakeHandler, before: Any) -> None:
        self._inner = inner
        self._before = before

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        self._before(ctx.stack)
        return self._inner.create(ctx, props)

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        self._before(ctx.stack)
        self._inner.delete(ctx, physical_id, props)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.cloud = FakeCloud()
        self.backend = LocalBackend(tmp_path / "state", "local")
        self.before: Any = lambda stack: None
        self.events: list[tuple[float, Event]] = []
        self._lock = threading.Lock()

    def handler_for(self, type_name: str) -> Any:
        handler = self.cloud.handler(type_name)
        return Gated(handler, self.before) if type_name == VPC else handler

    def listen(self, event: Event) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event))

    def session(self) -> Session:
        return Session(
            self.backend,
            target="local",
            clients_for=lambda region: self.cloud,
            handler_for=self.handler_for,
            listener=self.listen,
        )

    def apply(
        self, documents: dict[str, Any], operation: str = "deploy", concurrency: int = 10
    ) -> list[StackRun]:
        return self.session().apply(
            documents,
            operation=operation,
            confirm=lambda plans: True,
            concurrency=concurrency,
            rollback=operation == "deploy",
        )

    def span(self, stack: str) -> tuple[float, float]:
        """When the stack's first operation started and its last one ended."""
        times = [
            t for t, e in self.events if e.stack == stack and e.kind in ("start", "done") and e.path
        ]
        assert times, f"no operation of {stack} ran"
        return min(times), max(times)


def regional(*regions: str) -> dict[str, Any]:
    """One stack class per region: a VPC and a subnet in each, no cross-stack reference."""
    app = App()
    for region in regions:
        stack = Stack(app, f"web-{region}", region=region)
        vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
        ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
    return synthesize(app)


def producer_and_consumer() -> dict[str, Any]:
    """``net`` makes a VPC; ``app`` puts a group in it (reads ``net``)."""
    app = App()
    net = Stack(app, "net")
    vpc = ec2.Vpc(net, "Vpc", cidr_block="10.0.0.0/16")
    consumer = Stack(app, "app")
    ec2.SecurityGroup(consumer, "Sg", vpc=vpc)
    ec2.Vpc(consumer, "Own", cidr_block="10.1.0.0/16")
    return synthesize(app)


def statuses(runs: list[StackRun]) -> dict[str, Status | None]:
    return {r.plan.stack: r.result.status if r.result else None for r in runs}


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def meet(parties: int) -> Any:
    """A ``before`` that returns only once ``parties`` stacks called it at the same time."""
    barrier = threading.Barrier(parties, timeout=10)

    def before(stack: str) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            raise AssertionError(
                f"{stack}: the other stacks never ran at the same time (applied one by one?)"
            ) from None

    return before


def test_independent_stacks_are_deployed_at_the_same_time(world: World) -> None:
    world.before = meet(2)
    runs = world.apply(regional("us-east-1", "eu-west-1"))
    assert statuses(runs) == {"web-eu-west-1": Status.OK, "web-us-east-1": Status.OK}
    (east_start, east_end), (west_start, west_end) = (
        world.span("web-us-east-1"),
        world.span("web-eu-west-1"),
    )
    assert east_start < west_end and west_start < east_end
    for stack in ("web-us-east-1", "web-eu-west-1"):
        state = world.backend.read(stack)
        assert state is not None and set(state.resources) == {"Vpc", "Public"}


def test_independent_stacks_are_destroyed_at_the_same_time(world: World) -> None:
    documents = regional("us-east-1", "eu-west-1")
    world.apply(documents)
    world.before = meet(2)
    runs = world.apply(dict.fromkeys(documents), operation="destroy")
    assert set(statuses(runs).values()) == {Status.OK}
    assert world.cloud.resources == {}


def test_with_a_concurrency_of_one_the_stacks_run_one_after_the_other(world: World) -> None:
    runs = world.apply(regional("us-east-1", "eu-west-1", "eu-central-1"), concurrency=1)
    assert set(statuses(runs).values()) == {Status.OK}
    spans = sorted(world.span(r.plan.stack) for r in runs)
    for (_start, end), (next_start, _end) in itertools.pairwise(spans):
        assert end <= next_start


def test_a_stack_that_reads_from_another_starts_after_it_is_deployed(world: World) -> None:
    world.before = lambda stack: time.sleep(0.05)
    runs = world.apply(producer_and_consumer())
    assert [r.plan.stack for r in runs] == ["net", "app"]
    assert set(statuses(runs).values()) == {Status.OK}
    assert world.span("net")[1] <= world.span("app")[0]


def test_a_stack_that_reads_from_another_is_destroyed_before_it(world: World) -> None:
    documents = producer_and_consumer()
    world.apply(documents)
    world.events.clear()
    world.before = lambda stack: time.sleep(0.05)
    runs = world.apply(dict.fromkeys(documents), operation="destroy")
    assert [r.plan.stack for r in runs] == ["app", "net"]
    assert world.span("app")[1] <= world.span("net")[0]


def test_a_failed_stack_stops_the_stacks_not_started_and_lets_the_running_one_finish(
    world: World,
) -> None:
    failed = threading.Event()

    def before(stack: str) -> None:
        if stack == "web-eu-west-1":
            raise RuntimeError("injected failure in eu-west-1")
        if stack == "web-eu-central-1":
            assert failed.wait(10), "eu-west-1 did not fail"  # running when it fails

    def listen(event: Event) -> None:
        if event.kind == "failed":
            failed.set()

    world.before = before
    session = world.session()
    session.listener = lambda event: (listen(event), world.listen(event))  # type: ignore[func-returns-value]
    # Plans in name order: eu-central-1 and eu-west-1 start; us-east-1 waits for a slot.
    runs = session.apply(
        regional("eu-west-1", "us-east-1", "eu-central-1"),
        operation="deploy",
        confirm=lambda plans: True,
        concurrency=2,
    )
    result = statuses(runs)
    assert result["web-eu-west-1"] is Status.ROLLED_BACK
    assert "web-us-east-1" not in result, "a stack started after another stack failed"
    assert result["web-eu-central-1"] is Status.OK
    assert world.backend.read("web-us-east-1") is None


def test_stacks_not_started_when_the_run_is_stopped_are_reported_interrupted(
    world: World,
) -> None:
    session = world.session()

    def confirm(plans: object) -> bool:
        session.stop.set()  # Ctrl-C right after the plan was confirmed
        return True

    runs = session.apply(regional("us-east-1", "eu-west-1"), operation="deploy", confirm=confirm)
    assert statuses(runs) == {
        "web-eu-west-1": Status.INTERRUPTED,
        "web-us-east-1": Status.INTERRUPTED,
    }
    assert world.cloud.resources == {}
