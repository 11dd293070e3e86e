"""Client providers for the S3 backend (state sits below `infradsl.providers`)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

__all__ = ["ClientProvider", "S3Clients"]


class ClientProvider(Protocol):
    """Gives boto3 clients (`infradsl.providers.aws.clients.Clients` is one)."""

    def client(self, service: str) -> Any:
        """The shared client for ``service``."""
        ...


class S3Clients:
    """A minimal `ClientProvider` for state: one lazily created S3 client.

    Args:
        region: the bucket's region (S3 follows redirects to the right one).
        endpoint_url: the local cloud's URL, or ``None`` for AWS.
    """

    def __init__(self, region: str, endpoint_url: str | None = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """The S3 client (the only service state needs)."""
        if service != "s3":
            raise ValueError(f"state needs only the 's3' client (got {service!r})")
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                kwargs: dict[str, Any] = {
                    "config": Config(
                        region_name=self.region, retries={"max_attempts": 5, "mode": "standard"}
                    )
                }
                if self.endpoint_url is not None:
                    kwargs.update(
                        endpoint_url=self.endpoint_url,
                        aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                    )
                self._client = boto3.session.Session().client("s3", **kwargs)
            return self._client
