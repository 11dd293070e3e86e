"""The session is given its provider: the engine never builds the AWS one itself."""

from __future__ import annotations

import re
from pathlib import Path

import infradsl.engine
from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.session import Session
from infradsl.providers.fake import FakeCloud
from infradsl.providers.provider import Provider
from infradsl.state.local import LocalBackend
from infradsl.synth import synthesize


def test_no_engine_module_imports_the_aws_provider() -> None:
    folder = Path(infradsl.engine.__file__).parent
    imports = re.compile(r"^\s*(?:from|import) infradsl\.providers\.aws\b")
    found = [
        f"{path.name}:{number}"
        for path in sorted(folder.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if imports.match(line)
    ]
    assert found == [], f"engine modules import infradsl.providers.aws: {found}"


def test_a_session_deploys_through_the_provider_it_is_given(tmp_path: Path) -> None:
    cloud = FakeCloud()
    checked: list[str] = []
    warmed: list[tuple[str, frozenset[str]]] = []
    provider = Provider(
        clients_for=lambda region: cloud,
        handler_for=cloud.handler,
        preflight=checked.append,
        prewarm=lambda region, types: warmed.append((region, frozenset(types))),
    )
    session = Session.with_provider(
        LocalBackend(tmp_path / "state", "local"), provider, target="local"
    )
    app = App()
    stack = Stack(app, "demo", region="eu-west-1")
    ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    documents = synthesize(app)
    session.warm(documents)
    [run] = session.apply(documents, operation="deploy", confirm=lambda plans: True)
    assert run.result is not None and run.result.status is Status.OK
    assert [op for op, path, _ in cloud.calls if path == "Vpc"] == ["create"]
    assert checked == ["eu-west-1"]
    assert warmed == [("eu-west-1", frozenset({"aws.ec2.Vpc"}))]
