"""Open the state backend a ``--state`` location names: a directory or ``s3://bucket/prefix``."""

from __future__ import annotations

from infradsl.state.backend import StateBackend, StateError
from infradsl.state.local import LocalBackend

__all__ = ["DEFAULT_STATE_DIR", "open_backend"]

DEFAULT_STATE_DIR = ".infradsl/state"
"""Where state lives when no location is given (relative to the working directory)."""


def open_backend(
    location: str | None,
    target: str,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
) -> StateBackend:
    """The backend for a state location.

    Args:
        location: ``None`` (``.infradsl/state``), a directory, or ``s3://bucket[/prefix]``.
        target: ``local`` or ``aws``: each target has its own states.
        endpoint_url: for ``s3://`` on the local target, the local cloud's URL (the state
            bucket then lives in the local cloud); ``None`` for AWS.
        region: the state bucket's region.

    Returns:
        A `LocalBackend` or an `S3Backend`.

    Raises:
        StateError: an ``s3://`` location without a bucket name.

    Example:
        ```python
        backend = open_backend("s3://acme-infra-state/prod", "aws")
        state = backend.read("network")
        ```
    """
    if location is None or location == "":
        return LocalBackend(DEFAULT_STATE_DIR, target)
    if location.lower().startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise StateError(
                f"state location {location!r} names no bucket: use s3://BUCKET or "
                "s3://BUCKET/PREFIX, e.g. s3://acme-infra-state/prod"
            )
        from infradsl.state.s3 import S3Backend, S3Clients

        return S3Backend(bucket, prefix.strip("/"), target, S3Clients(region, endpoint_url))
    return LocalBackend(location, target)
