"""Crash safety on the fake cloud: a run dies between any two journal records; the next
run recovers, converges, and no resource is lost or duplicated."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from crash_backend import Crash, CrashingBackend

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.session import Session
from infradsl.providers.fake import FakeCloud
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


def build(image: str = "ami-12345678") -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24")
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0")])
    ec2.Instance(
        stack, "Web", image=image, instance_type="t3.micro", subnet=subnet, security_groups=[sg]
    )
    return synthesize(app)


def session(backend: LocalBackend, cloud: FakeCloud) -> Session:
    return Session(
        backend, target="local", clients_for=lambda region: cloud, handler_for=cloud.handler
    )


def deploy(backend: LocalBackend, cloud: FakeCloud, documents: dict[str, Any]) -> Any:
    return session(backend, cloud).apply(
        documents, operation="deploy", confirm=lambda plans: True, concurrency=1
    )


def assert_converged(root: Path, cloud: FakeCloud) -> None:
    state = LocalBackend(root, "local").read("demo")
    assert state is not None and state.pending == ()
    live = set(cloud.resources)
    tracked = {r.physical_id for r in state.resources.values()}
    assert live == tracked, f"untracked: {live - tracked}, missing: {tracked - live}"
    paths = Counter(path for _type, path in cloud.owners.values())
    assert all(n == 1 for n in paths.values()), f"duplicates: {paths}"
    assert sorted(paths) == ["Sg", "Subnet", "Vpc", "Web"]


def count_writes(documents: dict[str, Any], before: dict[str, Any] | None = None) -> int:
    cloud = FakeCloud()
    backend = CrashingBackend(Path(tempfile.mkdtemp()), None)
    if before is not None:
        deploy(backend, cloud, before)
        backend.writes = 0
    deploy(backend, cloud, documents)
    return backend.writes


def test_a_fresh_deploy_killed_between_any_two_journal_records_recovers(
    tmp_path: Path,
) -> None:
    total = count_writes(build())
    assert total == 2 * 4 + 1, "an intent and a result per create, then the outputs"
    for crash_at in range(1, total + 1):
        root = tmp_path / f"crash{crash_at}"
        cloud = FakeCloud()
        with pytest.raises(Crash):
            deploy(CrashingBackend(root, crash_at), cloud, build())
        backend = LocalBackend(root, "local")
        holder = backend.lock_holder("demo")
        assert holder is not None, "a dead run leaves its lock"
        backend.unlock("demo", holder.id)
        run = deploy(backend, cloud, build())[0]
        assert run.result.status is Status.OK, (crash_at, run.result)
        assert_converged(root, cloud)


def test_a_replacement_killed_between_any_two_journal_records_recovers(
    tmp_path: Path,
) -> None:
    total = count_writes(build("ami-87654321"), before=build())
    for crash_at in range(1, total + 1):
        root = tmp_path / f"crash{crash_at}"
        cloud = FakeCloud()
        assert deploy(LocalBackend(root, "local"), cloud, build())[0].result.status is Status.OK
        with pytest.raises(Crash):
            deploy(CrashingBackend(root, crash_at), cloud, build("ami-87654321"))
        backend = LocalBackend(root, "local")
        holder = backend.lock_holder("demo")
        if holder is not None:
            backend.unlock("demo", holder.id)
        run = deploy(backend, cloud, build("ami-87654321"))[0]
        assert run.result.status is Status.OK, (crash_at, run.result)
        assert_converged(root, cloud)
        web = next(p for p, (t, path) in cloud.owners.items() if path == "Web")
        assert cloud.resources[web]["image"] == "ami-87654321"


def test_recovery_says_what_it_did(tmp_path: Path) -> None:
    cloud = FakeCloud()
    with pytest.raises(Crash):
        deploy(CrashingBackend(tmp_path, 2), cloud, build())  # after the first create call
    backend = LocalBackend(tmp_path, "local")
    state = backend.read("demo")
    assert state is not None and [i["op"] for i in state.pending] == ["create"]
    backend.unlock("demo", backend.lock_holder("demo").id)  # type: ignore[union-attr]
    plan = session(backend, cloud).plan("demo", build()["demo"])
    assert any("recovered from an interrupted run" in n and "adopted" in n for n in plan.notes)
    assert backend.read("demo").pending == ()  # type: ignore[union-attr]
