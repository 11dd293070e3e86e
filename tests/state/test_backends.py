"""Every state backend passes the conformance suite; S3 writers race safely."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from backend_conformance import check_state_backend, race, state

from infradsl.state.backend import LockInfo, StateBackend, StateError, StateLockedError
from infradsl.state.factory import open_backend
from infradsl.state.local import LocalBackend
from infradsl.state.s3 import S3Backend, S3Clients
from infradsl.testing.plugin import LocalCloudFixture


class LocalFiles:
    def __init__(self, root: Path) -> None:
        self.folder = root / "local"

    def get(self, stack: str) -> bytes | None:
        path = self.folder / f"{stack}.json"
        return path.read_bytes() if path.exists() else None

    def put(self, stack: str, data: bytes) -> None:
        (self.folder / f"{stack}.json").write_bytes(data)

    def put_lock(self, stack: str, data: bytes) -> None:
        # A killed run leaves the file; the kernel released its lock on it.
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{stack}.lock").write_bytes(data)


class S3Objects:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def get(self, stack: str) -> bytes | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{stack}.json")
        except self.s3.exceptions.NoSuchKey:
            return None
        data: bytes = body["Body"].read()
        return data

    def put(self, stack: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{stack}.json", Body=data)

    def put_lock(self, stack: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{stack}.lock", Body=data)


@pytest.fixture
def bucket(local_cloud: LocalCloudFixture) -> str:
    local_cloud.client("s3").create_bucket(Bucket="infradsl-state")
    return "infradsl-state"


_clients: dict[str, S3Clients] = {}


def s3_backend(local_cloud: LocalCloudFixture, bucket: str) -> S3Backend:
    """A new backend instance (a "process"); they share one client, which holds no state."""
    clients = _clients.setdefault(
        local_cloud.endpoint, S3Clients("us-east-1", local_cloud.endpoint)
    )
    return S3Backend(bucket, "team/prod", "local", clients)


def raw_object(local_cloud: LocalCloudFixture, bucket: str, key: str) -> bytes:
    data: bytes = local_cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_the_local_backend_passes_the_conformance_suite(tmp_path: Path) -> None:
    check_state_backend(lambda: LocalBackend(tmp_path, "local"), LocalFiles(tmp_path))


def test_the_s3_backend_passes_the_conformance_suite(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    raw = S3Objects(local_cloud.client("s3"), bucket, "team/prod/local")
    check_state_backend(lambda: s3_backend(local_cloud, bucket), raw)


def test_the_s3_backend_keeps_its_objects_under_prefix_and_target(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    backend = s3_backend(local_cloud, bucket)
    backend.write(state("web", 1))
    backend.write(state("web", 2))
    backend.lock("web", LockInfo.new("deploy"))
    backend.append_history("web", {"result": "ok"})
    listed = local_cloud.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert keys[0].startswith("team/prod/local/web.history/") and keys[0].endswith(".json")
    journal = json.loads(raw_object(local_cloud, bucket, "team/prod/local/web.json"))
    assert keys[1:] == [
        f"team/prod/local/web.journal/{journal['journal_id']}/0000000001.json",
        "team/prod/local/web.json",
        "team/prod/local/web.lock",
        "team/prod/local/web.versions/1.json",
    ]
    assert backend.location == "s3://infradsl-state/team/prod/local"


def test_two_s3_processes_racing_for_the_lock_get_exactly_one_lock(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    for attempt in range(5):
        stack = f"race-lock-{attempt}"
        first, second = s3_backend(local_cloud, bucket), s3_backend(local_cloud, bucket)
        locks = [LockInfo.new("deploy"), LockInfo.new("destroy")]
        results = race(partial(first.lock, stack, locks[0]), partial(second.lock, stack, locks[1]))
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        loser = results[1 - winners[0]]
        assert isinstance(loser, StateLockedError)
        assert loser.holder == locks[winners[0]]
        assert f"lock id {locks[winners[0]].id}" in str(loser)
        assert first.lock_holder(stack) == locks[winners[0]]


def test_two_s3_processes_writing_the_same_next_serial_lose_no_write(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    for attempt in range(5):
        stack = f"race-write-{attempt}"
        s3_backend(local_cloud, bucket).write(state(stack, 1))
        first, second = s3_backend(local_cloud, bucket), s3_backend(local_cloud, bucket)
        assert first.read(stack) == second.read(stack) == state(stack, 1)
        mine, theirs = state(stack, 2, resources=2), state(stack, 2, resources=3)
        results = race(partial(first.write, mine), partial(second.write, theirs))
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        loser = results[1 - winners[0]]
        assert isinstance(loser, StateError)
        assert str(loser).startswith(
            f"refusing to write state of {stack!r}: another run wrote state serial 2 "
        )
        assert str(loser).endswith(
            "since this run read serial 1; nothing was written. "
            "Run again to start from the current state"
        )
        winner = (mine, theirs)[winners[0]]
        assert s3_backend(local_cloud, bucket).read(stack) == winner
        # The loser stays refused, even with a higher serial, until it reads again.
        stale = (first, second)[1 - winners[0]]
        with pytest.raises(StateError, match="another run wrote state serial 2"):
            stale.write(state(stack, 3))
        assert s3_backend(local_cloud, bucket).read(stack) == winner


def test_a_missing_state_bucket_says_how_to_create_it(local_cloud: LocalCloudFixture) -> None:
    backend = S3Backend("no-such-bucket", "", "local", S3Clients("us-east-1", local_cloud.endpoint))
    expected = (
        f"the state bucket 'no-such-bucket' does not exist in the local cloud at "
        f"{local_cloud.endpoint}: create it with `aws --endpoint-url {local_cloud.endpoint} "
        "s3 mb s3://no-such-bucket`"
    )
    with pytest.raises(StateError) as caught:
        backend.read("web")
    assert str(caught.value).startswith(expected)
    with pytest.raises(StateError, match="does not exist"):
        backend.lock("web", LockInfo.new("deploy"))
    with pytest.raises(StateError, match="does not exist"):
        backend.stacks()


def test_open_backend_without_a_location_uses_the_default_directory() -> None:
    backend = open_backend(None, "aws")
    assert isinstance(backend, LocalBackend)
    assert backend.folder == Path(".infradsl/state/aws")


def test_open_backend_with_a_directory_uses_it(tmp_path: Path) -> None:
    backend = open_backend(str(tmp_path), "local")
    assert isinstance(backend, LocalBackend)
    assert backend.folder == tmp_path / "local"


def test_open_backend_with_an_s3_url_parses_bucket_and_prefix() -> None:
    backend = open_backend("s3://acme-state/teams/web/", "aws", region="eu-west-1")
    assert isinstance(backend, S3Backend)
    assert (backend.bucket, backend.prefix, backend.target) == ("acme-state", "teams/web", "aws")
    assert backend.location == "s3://acme-state/teams/web/aws"
    bare = open_backend("s3://acme-state", "local", endpoint_url="http://127.0.0.1:1")
    assert isinstance(bare, S3Backend)
    assert bare.location == "s3://acme-state/local"
    assert isinstance(bare, StateBackend)


def test_open_backend_refuses_an_s3_url_without_a_bucket() -> None:
    with pytest.raises(StateError) as caught:
        open_backend("s3://", "aws")
    assert str(caught.value) == (
        "state location 's3://' names no bucket: use s3://BUCKET or s3://BUCKET/PREFIX, "
        "e.g. s3://acme-infra-state/prod"
    )
