"""Reconcile on the fake cloud: untracked resources tagged with the stack."""

from __future__ import annotations

from pathlib import Path

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.reconcile import adopt, delete_strays, find_strays
from infradsl.engine.session import Session
from infradsl.providers.fake import FakeCloud
from infradsl.providers.handler import HandlerContext
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


def test_strays_are_listed_adopted_when_their_path_is_free_and_duplicates_deleted(
    tmp_path: Path,
) -> None:
    app = App()
    stack = Stack(app, "demo")
    ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    cloud = FakeCloud()
    backend = LocalBackend(tmp_path, "local")
    Session(backend, target="local", clients_for=lambda r: cloud, handler_for=cloud.handler).apply(
        synthesize(app), operation="deploy", confirm=lambda plans: True
    )
    handler = cloud.handler("aws.ec2.Vpc")
    deployed = backend.read("demo")
    assert deployed is not None

    def ctx(path: str, attempt: int, lineage: str = deployed.lineage) -> HandlerContext:
        return HandlerContext(
            stack="demo",
            path=path,
            region="us-east-1",
            clients=cloud,
            attempt=attempt,
            lineage=lineage,
        )

    extra = handler.create(ctx("Extra", 0), {"cidr_block": "10.1.0.0/16"}).physical_id
    duplicate = handler.create(ctx("Vpc", 7), {"cidr_block": "10.0.0.0/16"}).physical_id
    handler.create(
        HandlerContext(stack="other", path="Vpc", region="us-east-1", clients=cloud),
        {"cidr_block": "10.2.0.0/16"},
    )
    # Same stack name, another state (another --state location): not a stray of this one.
    handler.create(ctx("Vpc", 0, lineage="another-state"), {"cidr_block": "10.3.0.0/16"})

    state = backend.read("demo")
    strays = find_strays("demo", "us-east-1", state, cloud, cloud.handler, ["aws.ec2.Vpc"])
    assert [(s.path, s.physical_id, s.adoptable) for s in strays] == [
        ("Extra", extra, True),
        ("Vpc", duplicate, False),
    ]

    assert state is not None
    adopted = adopt(state, strays, cloud, cloud.handler)
    assert adopted.resources["Extra"].physical_id == extra
    assert adopted.resources["Vpc"].physical_id != duplicate
    assert adopted.serial == state.serial + 1

    assert (
        delete_strays(
            "demo", "us-east-1", [s for s in strays if not s.adoptable], cloud, cloud.handler
        )
        == []
    )
    assert duplicate not in cloud.resources and extra in cloud.resources
