"""pytest plugin: an isolated local cloud on a free port for integration tests.

Installed with infradsl (entry point ``pytest11``). Fixtures:

- ``local_cloud``: a moto server on ``127.0.0.1`` and a free port, shared by the test
  session and reset before each test that uses it; ``local_cloud.client("ec2")`` gives a
  boto3 client for it.
- ``deploy_stack``: deploys a stack (or every stack of an app) to that local cloud and
  returns a `Deployment` with its outputs and physical ids; everything it deployed is
  destroyed when the test ends.

Example:
    ```python
    def test_vpc(local_cloud):
        ec2 = local_cloud.client("ec2")
        assert ec2.describe_vpcs()["Vpcs"] is not None

    def test_web_stack(deploy_stack, local_cloud):
        deployed = deploy_stack(WebApp(App(), "test"))
        ip = deployed.outputs["WebIp"]
        instance = deployed.physical_ids["Web"]
        ...
    ```
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from infradsl.local.server import EMULATOR_ENV, free_port

__all__ = [
    "Deployer",
    "Deployment",
    "LocalCloudFixture",
    "deploy_stack",
    "local_cloud",
    "local_cloud_server",
]


class LocalCloudFixture:
    """A running moto server for tests.

    Attributes:
        endpoint: ``http://127.0.0.1:PORT``.
        region: the default region of `client`.
    """

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.region = region
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for the local cloud (one per service and region, reused: making
        a client takes a tenth of a second or more, the EC2 one most)."""
        import boto3

        key = (service, region or self.region)
        with self._lock:
            made = self._clients.get(key)
            if made is None:
                make: Any = boto3.client
                made = self._clients[key] = make(
                    service,
                    region_name=key[1],
                    endpoint_url=self.endpoint,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                )
        return made

    def reset(self) -> None:
        """Forget every resource in the emulator."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass


@pytest.fixture(scope="session")
def local_cloud_server() -> Iterator[LocalCloudFixture]:
    """The session's moto server, started in a thread on a free loopback port, with AWS's
    managed policies like the local cloud (moto reads the setting from this process's
    environment)."""
    import logging
    import os

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for name, value in EMULATOR_ENV.items():
        os.environ.setdefault(name, value)
    _managed_policies_in_the_aws_partition_only()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield LocalCloudFixture(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def _managed_policies_in_the_aws_partition_only() -> None:
    """Make moto load AWS's managed policies into the ``aws`` partition's IAM only.

    To find the account of a request, moto builds the IAM of every partition of the
    account (``aws``, ``aws-cn``, ``aws-us-gov`` and three more), and each one loads the
    ~1,600 managed policies: six times at the first call and at every `reset`, most of
    the time a reset takes (8 of 12 s on a busy 2-core machine). The local cloud serves
    the ``aws`` partition only, where nothing changes. Skipped if moto's internals moved
    (the reset is only slower then).
    """
    try:
        from moto.iam.models import IAMBackend
    except ImportError:  # pragma: no cover - moto without IAM
        return
    original = getattr(IAMBackend, "_init_aws_policies", None)
    if original is None or getattr(original, "_infradsl_aws_only", False):
        return

    def init_aws_policies(self: Any) -> Any:
        return original(self) if getattr(self, "partition", "aws") == "aws" else []

    init_aws_policies._infradsl_aws_only = True  # type: ignore[attr-defined]
    IAMBackend._init_aws_policies = init_aws_policies  # type: ignore[method-assign]


@pytest.fixture
def local_cloud(
    local_cloud_server: LocalCloudFixture, monkeypatch: pytest.MonkeyPatch
) -> LocalCloudFixture:
    """An empty local cloud for this test; ``INFRADSL_LOCAL_ENDPOINT`` points at it."""
    local_cloud_server.reset()
    monkeypatch.setenv("INFRADSL_LOCAL_ENDPOINT", local_cloud_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return local_cloud_server


@attrs.frozen
class Deployment:
    """What `deploy_stack` deployed.

    Attributes:
        stack: the stack name.
        outputs: the stack's output values.
        physical_ids: logical id -> physical id of every resource.
        attributes: logical id -> the resource's attributes (``id``, ``arn``, ...).
    """

    stack: str
    outputs: dict[str, Any]
    physical_ids: dict[str, str]
    attributes: dict[str, dict[str, Any]]


class Deployer:
    """Deploys stacks to a local cloud with state in a folder; destroys them on `close`.

    Args:
        endpoint: the local cloud's URL.
        state_dir: where the state files go.
    """

    def __init__(self, endpoint: str, state_dir: Path) -> None:
        from infradsl.engine.session import Session
        from infradsl.state.local import LocalBackend

        self.backend = LocalBackend(state_dir, "local")
        from infradsl.providers.aws.provider import aws_provider

        self.session = Session.with_provider(self.backend, aws_provider(endpoint), target="local")
        self.deployed: list[str] = []

    def deploy(self, target: Any) -> Deployment:
        """Deploy a `Stack` (or every stack of an `App`); return the first stack's result.

        Raises:
            AssertionError: the deploy failed (it was rolled back); the message says why.
        """
        from infradsl.core.stack import Stack
        from infradsl.engine.executor import Status
        from infradsl.synth import synthesize

        documents = synthesize(target.node.root)
        if isinstance(target, Stack):
            documents = {target.name: documents[target.name]}
        runs = self.session.apply(
            documents, operation="deploy", confirm=lambda plans: True, concurrency=10
        )
        for run in runs:
            if run.result is None or run.result.status is not Status.OK:
                errors = run.result.errors if run.result else ()
                raise AssertionError(f"deploy of {run.plan.stack} failed: {errors}")
            if run.plan.stack not in self.deployed:
                self.deployed.append(run.plan.stack)
        name = next(iter(documents))
        state = self.backend.read(name)
        assert state is not None
        return Deployment(
            stack=name,
            outputs=dict(state.outputs),
            physical_ids={p: r.physical_id for p, r in state.resources.items()},
            attributes={p: dict(r.attributes) for p, r in state.resources.items()},
        )

    def close(self) -> None:
        """Destroy everything deployed, dependents first, newest stack first."""
        if self.deployed:
            self.session.apply(
                {name: None for name in self.deployed},
                operation="destroy",
                confirm=lambda plans: True,
            )
            self.deployed.clear()


@pytest.fixture
def deploy_stack(local_cloud: LocalCloudFixture, tmp_path: Path) -> Iterator[Any]:
    """``deploy_stack(stack_or_app) -> Deployment``; destroyed again at the end of the test."""
    deployer = Deployer(local_cloud.endpoint, tmp_path / "infradsl-state")
    try:
        yield deployer.deploy
    finally:
        deployer.close()
