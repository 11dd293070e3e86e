"""pytest plugin: an isolated local cloud on a free port for integration tests.

Installed with infradsl (entry point ``pytest11``). Fixtures:

- ``local_cloud``: a moto server on ``127.0.0.1`` and a free port, shared by the test
  session and reset before each test that uses it; ``local_cloud.client("ec2")`` gives a
  boto3 client for it.

Example:
    ```python
    def test_vpc(local_cloud):
        ec2 = local_cloud.client("ec2")
        assert ec2.describe_vpcs()["Vpcs"] is not None
    ```
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["LocalCloudFixture", "local_cloud", "local_cloud_server"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCloudFixture:
    """A running moto server for tests.

    Attributes:
        endpoint: ``http://127.0.0.1:PORT``.
        region: the default region of `client`.
    """

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.region = region

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for the local cloud."""
        import boto3

        make: Any = boto3.client
        return make(
            service,
            region_name=region or self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def reset(self) -> None:
        """Forget every resource in the emulator."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass


@pytest.fixture(scope="session")
def local_cloud_server() -> Iterator[LocalCloudFixture]:
    """The session's moto server, started in a thread on a free loopback port."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield LocalCloudFixture(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


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
