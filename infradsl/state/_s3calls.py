"""The S3 calls of the S3 backend: objects read, listed, created and deleted, with errors a
user can act on."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
from botocore.exceptions import BotoCoreError, ClientError

from infradsl.state._s3clients import ClientProvider
from infradsl.state.backend import StateError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["CONFLICT", "S3Calls", "S3Object", "code", "float_or"]

T = TypeVar("T")

# S3's answers to a failed condition: 412, or 409 when a concurrent conditional write won
# the race; NoSuchKey when ``IfMatch`` names an object that was deleted meanwhile.
CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


@attrs.frozen
class S3Object:
    """An object as read: body, ETag, metadata, and when it was written (epoch seconds)."""

    body: bytes
    etag: str
    metadata: Mapping[str, str]
    written: float


class S3Calls:
    """S3 calls on one bucket, each turning botocore's errors into a `StateError`.

    Args:
        bucket: the bucket.
        clients: gives the S3 client.
    """

    def __init__(self, bucket: str, clients: ClientProvider) -> None:
        self.bucket = bucket
        self.clients = clients

    @property
    def _s3(self) -> S3Client:
        return cast("S3Client", self.clients.client("s3"))

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _get(self, key: str, what: str) -> S3Object | None:
        """The object at ``key``, or ``None`` when it does not exist."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"].read()
        except ClientError as exc:
            if code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure(exc, what, key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, what, key) from exc
        metadata = response.get("Metadata", {})
        written = float_or(metadata.get("written"), 0.0)
        return S3Object(
            body, response["ETag"], metadata, written or response["LastModified"].timestamp()
        )

    def _etag(self, key: str, what: str) -> str | None:
        """The ETag of the object at ``key``, or ``None`` when it does not exist."""
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
        except ClientError as exc:
            if code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._failure(exc, what, key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, what, key) from exc

    def _create(self, key: str, body: bytes, what: str, metadata: Mapping[str, str]) -> bool:
        """Create the object at ``key`` unless one exists (``IfNoneMatch``).

        Returns:
            Whether this call created it; a lost answer whose retry found the object is
            recognized by the write id in its metadata.
        """
        write_id = uuid.uuid4().hex
        meta = {**metadata, "write-id": write_id}
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata=meta, IfNoneMatch="*"
            )
        except ClientError as exc:
            if code(exc) not in CONFLICT:
                raise self._failure(exc, what, key) from exc
            now = self._get(key, what)
            return now is not None and now.metadata.get("write-id") == write_id
        except BotoCoreError as exc:
            raise self._failure(exc, what, key) from exc
        return True

    def _list(self, prefix: str, delimiter: str = "") -> list[dict[str, Any]]:
        """Objects under ``prefix`` with ``Key`` and ``LastModified`` (epoch seconds)."""
        found: list[dict[str, Any]] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter=delimiter
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        {"Key": item["Key"], "LastModified": item["LastModified"].timestamp()}
                    )
        except ClientError as exc:
            raise self._failure(exc, "list", prefix) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "list", prefix) from exc
        return found

    def _delete(self, key: str, what: str) -> None:
        self._call(
            what, key, functools.partial(self._s3.delete_object, Bucket=self.bucket, Key=key)
        )

    def _delete_all(self, keys: list[str], what: str) -> None:
        """Delete ``keys``, a thousand per call."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self._call(
                what,
                batch[0],
                functools.partial(
                    self._s3.delete_objects,
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                ),
            )

    def _call(self, what: str, key: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ClientError as exc:
            raise self._failure(exc, what, key) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, what, key) from exc

    def _failure(self, exc: Exception, what: str, key: str) -> StateError:
        if isinstance(exc, ClientError) and code(exc) == "NoSuchBucket":
            endpoint = getattr(self.clients, "endpoint_url", None)
            command = (
                f"aws --endpoint-url {endpoint} s3 mb s3://{self.bucket}"
                if endpoint
                else f"aws s3 mb s3://{self.bucket}"
            )
            return StateError(
                f"the state bucket {self.bucket!r} does not exist"
                + (f" in the local cloud at {endpoint}" if endpoint else "")
                + f": create it with `{command}` (infradsl never creates its state bucket; "
                "on AWS, turn on versioning and block public access)"
            )
        return StateError(f"could not {what} at {self._url(key)}: {exc}")


def code(exc: ClientError) -> str:
    """The error code of a botocore error."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def float_or(text: str | None, default: float) -> float:
    """``text`` as a number (metadata such as ``written``), or ``default``."""
    try:
        return float(text) if text else default
    except ValueError:
        return default
