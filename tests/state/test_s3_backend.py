"""The S3 backend under lost answers and foreign or dead locks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import attrs
import pytest
from backend_conformance import race, state
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.httpsession import URLLib3Session

from infradsl.state.backend import LockInfo, StateLockedError
from infradsl.state.s3 import S3Backend, S3Clients
from infradsl.testing.plugin import LocalCloudFixture

INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.data


class LoseAnswers:
    """A ``before-send`` hook: the first attempt of every PUT reaches the server, then its
    answer is lost and a 500 comes back instead, so botocore retries it."""

    def __init__(self) -> None:
        self.session = URLLib3Session()
        self.delivered: list[tuple[str, int]] = []

    def __call__(self, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
        attempt = request.headers.get("amz-sdk-request", b"")
        if isinstance(attempt, bytes):
            attempt = attempt.decode()
        if request.method != "PUT" or not attempt.startswith("attempt=1;"):
            return None
        real = self.session.send(request)
        self.delivered.append((request.url.split("?")[0].rsplit("/", 1)[-1], real.status_code))
        return AWSResponse(request.url, 500, HTTPHeaders(), _Body(INTERNAL_ERROR))


@pytest.fixture
def bucket(local_cloud: LocalCloudFixture) -> str:
    local_cloud.client("s3").create_bucket(Bucket="infradsl-state")
    return "infradsl-state"


def backend(
    local_cloud: LocalCloudFixture, bucket: str, hook: LoseAnswers | None = None
) -> S3Backend:
    clients = S3Clients("us-east-1", local_cloud.endpoint)
    if hook is not None:
        clients.client("s3").meta.events.register("before-send.s3.PutObject", hook)
    return S3Backend(bucket, "team", "local", clients)


def test_conditional_writes_whose_answer_was_lost_are_recognized_as_this_runs(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    lost = LoseAnswers()
    run = backend(local_cloud, bucket, lost)
    lock = LockInfo.new("deploy")
    assert run.lock("web", lock) is None
    assert lost.delivered == [("web.lock", 200)], "the lock PUT reached S3, its answer did not"
    run.write(state("web", 1))  # IfNoneMatch
    run.write(state("web", 2, resources=2))  # IfMatch
    run.write(state("web", 3, resources=3))
    run.unlock("web", lock.id)
    assert ("web.json", 200) in lost.delivered
    other = backend(local_cloud, bucket)
    assert other.read("web") == state("web", 3, resources=3)
    assert other.lock_holder("web") is None
    assert [serial for serial, _ in other.versions("web")] == [3, 1]
    # A rollback after lost answers works too: the run is never locked out of its state.
    again = backend(local_cloud, bucket, lost)
    lock = LockInfo.new("deploy")
    again.lock("web", lock)
    again.read("web")
    again.write(state("web", 4, resources=4))
    again.restore("web", state("web", 3, resources=3))
    again.unlock("web", lock.id)
    assert other.read("web") == state("web", 3, resources=3)


def test_a_write_of_another_run_is_still_a_conflict_after_a_lost_answer(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    lost = LoseAnswers()
    mine, theirs = backend(local_cloud, bucket, lost), backend(local_cloud, bucket)
    mine.write(state("web", 1))
    theirs.read("web")
    theirs.write(state("web", 2, resources=5))
    with pytest.raises(Exception, match="another run wrote state serial 2"):
        mine.write(state("web", 2))
    assert theirs.read("web") == state("web", 2, resources=5)


def test_a_dead_runs_lock_is_taken_over_even_when_the_answer_is_lost(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    dead = attrs.evolve(LockInfo.new("deploy"), pid=2**22 + 7)  # above any pid_max
    local_cloud.client("s3").put_object(
        Bucket=bucket, Key="team/local/web.lock", Body=json.dumps(dead.to_json()).encode()
    )
    run = backend(local_cloud, bucket, LoseAnswers())
    mine = LockInfo.new("deploy")
    assert run.lock("web", mine) == dead
    assert backend(local_cloud, bucket).lock_holder("web") == mine


def test_two_runs_racing_for_a_dead_runs_lock_get_exactly_one(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    for attempt in range(5):
        stack = f"dead{attempt}"
        dead = attrs.evolve(LockInfo.new("deploy"), pid=2**22 + 7)
        local_cloud.client("s3").put_object(
            Bucket=bucket, Key=f"team/local/{stack}.lock", Body=json.dumps(dead.to_json())
        )
        locks = [LockInfo.new("deploy"), LockInfo.new("destroy")]
        results = race(
            partial(backend(local_cloud, bucket).lock, stack, locks[0]),
            partial(backend(local_cloud, bucket).lock, stack, locks[1]),
        )
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert results[winners[0]] == dead
        loser = results[1 - winners[0]]
        assert isinstance(loser, StateLockedError) and loser.holder == locks[winners[0]]


def test_a_lock_of_another_host_is_never_taken_over(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    elsewhere = attrs.evolve(LockInfo.new("deploy"), host="ci-runner-7", pid=2**22 + 7)
    local_cloud.client("s3").put_object(
        Bucket=bucket, Key="team/local/web.lock", Body=json.dumps(elsewhere.to_json())
    )
    with pytest.raises(StateLockedError) as caught:
        backend(local_cloud, bucket).lock("web", LockInfo.new("deploy"))
    assert caught.value.holder == elsewhere and not caught.value.stale
    assert str(caught.value).endswith("wait for it to finish")


@pytest.mark.parametrize("body", [b"", b'{"id": "x"', b"garbage"])
def test_an_unreadable_lock_object_is_reported_stale_with_the_command_that_clears_it(
    local_cloud: LocalCloudFixture, bucket: str, body: bytes
) -> None:
    local_cloud.client("s3").put_object(Bucket=bucket, Key="team/local/web.lock", Body=body)
    run = backend(local_cloud, bucket)
    with pytest.raises(StateLockedError) as caught:
        run.lock("web", LockInfo.new("deploy"))
    assert caught.value.stale and caught.value.holder == LockInfo.unreadable()
    assert str(caught.value) == (
        "stack 'web' has a lock that cannot be read (empty or damaged: a run died while "
        "taking it), so the lock is stale: clear it with "
        "`infradsl state unlock unreadable --stack web`"
    )
    run.unlock("web", "unreadable")
    assert run.lock("web", LockInfo.new("deploy")) is None
