"""Property test: random small stacks, a random failing call, a random crash between
journal records; afterwards state is valid and matches the local cloud."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from cloudsnap import failing_nth_mutating, owned
from crash_backend import Crash, CrashingBackend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infradsl import App, Stack
from infradsl.aws import ec2, iam, secrets
from infradsl.engine.session import Session
from infradsl.providers.aws import handler_for
from infradsl.providers.aws.clients import Clients
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize

stacks = st.fixed_dictionaries(
    {
        "subnets": st.integers(1, 3),
        "groups": st.integers(0, 2),
        "instance": st.booleans(),
        "secret": st.booleans(),
    }
)


def build(shape: dict[str, Any]) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "prop")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnets = [
        ec2.Subnet(stack, f"S{i}", vpc=vpc, cidr_block=f"10.0.{i}.0/24")
        for i in range(shape["subnets"])
    ]
    groups: list[ec2.SecurityGroup] = []
    for i in range(shape["groups"]):
        source: Any = groups[-1] if groups else "10.0.0.0/16"
        groups.append(
            ec2.SecurityGroup(stack, f"G{i}", vpc=vpc, ingress=[ec2.Rule.tcp(443, source=source)])
        )
    role = None
    if shape["secret"]:
        role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
        secrets.Secret(stack, "Pw", generate=secrets.Generate(length=16)).grant_read(role)
    if shape["instance"]:
        ec2.Instance(
            stack,
            "Web",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=subnets[0],
            security_groups=groups[-1:],
            role=role,
        )
    return synthesize(app)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shape=stacks, fail_at=st.none() | st.integers(1, 20), crash_at=st.none() | st.integers(1, 40)
)
def test_state_stays_valid_and_matches_the_cloud(
    local_cloud: Any,
    shape: dict[str, Any],
    fail_at: int | None,
    crash_at: int | None,
) -> None:
    local_cloud.reset()
    root = Path(tempfile.mkdtemp())
    clients = Clients("us-east-1", local_cloud.endpoint)
    documents = build(shape)

    def session(backend: LocalBackend) -> Session:
        return Session(
            backend, target="local", clients_for=lambda region: clients, handler_for=handler_for
        )

    backend = CrashingBackend(root, crash_at)
    try:
        with failing_nth_mutating(fail_at):
            session(backend).apply(documents, operation="deploy", confirm=lambda p: True)
    except Crash:
        pass

    healthy = LocalBackend(root, "local")
    holder = healthy.lock_holder("prop")
    if holder is not None:
        healthy.unlock("prop", holder.id)
    session(healthy).plan("prop", documents["prop"])  # recovers an interrupted journal
    state = healthy.read("prop")
    tracked = {r.physical_id for r in state.resources.values()} if state else set()
    assert state is None or state.pending == ()
    live = {physical_id for _kind, physical_id, _path in owned(local_cloud, "prop")}
    assert live == tracked, f"untracked {live - tracked}; missing {tracked - live}"

    run = session(healthy).apply(documents, operation="deploy", confirm=lambda p: True)[0]
    assert run.result is not None and run.result.status.name == "OK"
    final = healthy.read("prop")
    assert final is not None
    assert set(final.resources) == set(documents["prop"]["resources"])
