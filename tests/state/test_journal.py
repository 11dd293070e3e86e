"""The journal after a state document, on both backends: replay, compaction, torn records,
crashes between a record and a compaction, and stale writers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from backend_conformance import state

from infradsl.state import local as local_module
from infradsl.state.backend import LockInfo, StateError
from infradsl.state.local import LocalBackend
from infradsl.state.s3 import S3Backend, S3Clients
from infradsl.testing.plugin import LocalCloudFixture


class Crash(BaseException):
    """The process died here."""


def files(root: Path) -> tuple[Path, Path]:
    return root / "local" / "web.json", root / "local" / "web.journal"


def serial_of_document(path: Path) -> int:
    serial: int = json.loads(path.read_bytes())["serial"]
    return serial


def test_writes_append_records_that_a_new_reader_replays(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "local")
    for serial in range(1, 6):
        backend.write(state("web", serial, resources=serial))
    document, journal = files(tmp_path)
    assert serial_of_document(document) == 1, "the document is written once"
    assert len(journal.read_bytes().splitlines()) == 1 + 4, "a header and four records"
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 5, resources=5)


def test_the_journal_is_compacted_when_it_outgrows_half_the_document_and_at_unlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "COMPACT_BYTES", 0)
    backend = LocalBackend(tmp_path, "local")
    lock = LockInfo.new("deploy")
    backend.lock("web", lock)
    backend.write(state("web", 1, resources=40))
    document, journal = files(tmp_path)
    size = document.stat().st_size
    serial = 1
    while serial_of_document(document) == 1:
        serial += 1
        backend.write(state("web", serial, resources=40))
        assert serial < 100, "never compacted"
    assert serial_of_document(document) == serial and not journal.exists()
    assert len(json.dumps(state("web", serial, resources=40).to_json())) < 2 * size
    backend.write(state("web", serial + 1, resources=40))
    assert journal.exists()
    backend.unlock("web", lock.id)
    assert not journal.exists(), "compacted when the run releases its lock"
    assert serial_of_document(document) == serial + 1
    assert LocalBackend(tmp_path, "local").read("web") == state("web", serial + 1, resources=40)


def test_a_torn_last_record_is_ignored_and_replaced_by_the_next_write(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "local")
    for serial in (1, 2, 3):
        backend.write(state("web", serial, resources=serial))
    _, journal = files(tmp_path)
    data = journal.read_bytes()
    journal.write_bytes(data[:-7])  # the append of serial 3 was cut short by a crash
    reader = LocalBackend(tmp_path, "local")
    assert reader.read("web") == state("web", 2, resources=2)
    reader.write(state("web", 3, resources=7))
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 3, resources=7)
    assert len(journal.read_bytes().splitlines()) == 3, "the torn bytes were cut off"
    with open(journal, "ab") as file:
        file.write(b'0000abcd {"serial": 4, "put"')  # no newline: torn again
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 3, resources=7)


def test_a_damaged_record_followed_by_good_ones_is_reported_corrupt(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "local")
    for serial in (1, 2, 3):
        backend.write(state("web", serial, resources=serial))
    _, journal = files(tmp_path)
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"vpc-2-1", b"vpc-9-1")  # the checksum no longer matches
    journal.write_bytes(b"".join(lines))
    with pytest.raises(StateError, match=r"state journal .*web\.journal is corrupt"):
        LocalBackend(tmp_path, "local").read("web")


def test_a_crash_before_the_compacted_document_is_in_place_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(tmp_path, "local")
    lock = LockInfo.new("deploy")
    backend.lock("web", lock)
    for serial in (1, 2, 3):
        backend.write(state("web", serial, resources=serial))

    def die(*args: Any, **kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(os, "replace", die)
    with pytest.raises(Crash):
        backend.unlock("web", lock.id)  # compacts first
    monkeypatch.undo()
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 3, resources=3)
    assert not list((tmp_path / "local").glob(".*.tmp"))


def test_a_crash_after_the_compacted_document_is_in_place_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(tmp_path, "local")
    lock = LockInfo.new("deploy")
    backend.lock("web", lock)
    for serial in (1, 2, 3):
        backend.write(state("web", serial, resources=serial))
    real_unlink = Path.unlink

    def die_on_journal(path: Path, missing_ok: bool = False) -> None:
        if path.name == "web.journal":
            raise Crash
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", die_on_journal)
    with pytest.raises(Crash):
        backend.unlock("web", lock.id)
    monkeypatch.undo()
    document, journal = files(tmp_path)
    assert journal.exists() and serial_of_document(document) == 3
    # The journal names the document it followed, not this one: it is void.
    reader = LocalBackend(tmp_path, "local")
    assert reader.read("web") == state("web", 3, resources=3)
    reader.write(state("web", 4, resources=4))
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 4, resources=4)


def test_a_stale_writer_is_refused_after_another_appended_and_after_it_compacted(
    tmp_path: Path,
) -> None:
    LocalBackend(tmp_path, "local").write(state("web", 1))
    mine, theirs = LocalBackend(tmp_path, "local"), LocalBackend(tmp_path, "local")
    mine.read("web")
    theirs.read("web")
    lock = LockInfo.new("deploy")
    theirs.lock("web", lock)
    theirs.write(state("web", 2, resources=2))
    with pytest.raises(StateError, match=r"another run wrote state serial 2 .* since this run"):
        mine.write(state("web", 2, resources=5))
    theirs.write(state("web", 3, resources=3))
    theirs.unlock("web", lock.id)  # compacted: a new document, no journal
    with pytest.raises(StateError, match="another run wrote state serial 3"):
        mine.write(state("web", 4, resources=5))
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 3, resources=3)


def test_a_rollback_that_did_not_compact_restores_the_document_byte_for_byte(
    tmp_path: Path,
) -> None:
    LocalBackend(tmp_path, "local").write(state("web", 1, resources=3))
    document, journal = files(tmp_path)
    before = document.read_bytes()
    backend = LocalBackend(tmp_path, "local")
    original = backend.read("web")
    assert original is not None
    backend.write(state("web", 2, resources=4))
    backend.restore("web", original)
    assert document.read_bytes() == before and not journal.exists()


# -- S3 ---------------------------------------------------------------------------------


@pytest.fixture
def bucket(local_cloud: LocalCloudFixture) -> str:
    local_cloud.client("s3").create_bucket(Bucket="journal-state")
    return "journal-state"


def s3(local_cloud: LocalCloudFixture, bucket: str) -> S3Backend:
    return S3Backend(bucket, "team", "local", S3Clients("us-east-1", local_cloud.endpoint))


def journal_keys(local_cloud: LocalCloudFixture, bucket: str) -> list[str]:
    listed = local_cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix="team/local/web.")
    return sorted(o["Key"] for o in listed.get("Contents", []) if ".journal/" in o["Key"])


def test_s3_writes_are_records_that_a_new_reader_replays_and_unlock_compacts(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    backend = s3(local_cloud, bucket)
    lock = LockInfo.new("deploy")
    backend.lock("web", lock)
    for serial in range(1, 5):
        backend.write(state("web", serial, resources=serial))
    assert len(journal_keys(local_cloud, bucket)) == 3
    assert s3(local_cloud, bucket).read("web") == state("web", 4, resources=4)
    backend.unlock("web", lock.id)
    assert journal_keys(local_cloud, bucket) == []
    assert s3(local_cloud, bucket).read("web") == state("web", 4, resources=4)


def test_s3_a_stale_writer_is_refused_where_a_compaction_deleted_the_journal(
    local_cloud: LocalCloudFixture, bucket: str
) -> None:
    s3(local_cloud, bucket).write(state("web", 1))
    mine, theirs = s3(local_cloud, bucket), s3(local_cloud, bucket)
    mine.read("web")
    theirs.read("web")
    lock = LockInfo.new("deploy")
    theirs.lock("web", lock)
    theirs.write(state("web", 2, resources=2))
    theirs.write(state("web", 3, resources=3))
    theirs.unlock("web", lock.id)  # sealed, replaced the document, deleted its journal
    # The first record number is free again, but the document it followed is gone.
    with pytest.raises(StateError, match=r"another run wrote state serial 3 .* since this run"):
        mine.write(state("web", 2, resources=9))
    assert s3(local_cloud, bucket).read("web") == state("web", 3, resources=3)


def test_s3_nobody_adds_to_a_journal_sealed_for_a_compaction_that_died(
    local_cloud: LocalCloudFixture, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3(local_cloud, bucket).write(state("web", 1))
    dying, stale = s3(local_cloud, bucket), s3(local_cloud, bucket)
    dying.read("web")
    dying.write(state("web", 2, resources=2))
    stale.read("web")

    def die(*args: Any, **kwargs: Any) -> str:
        raise Crash

    monkeypatch.setattr(dying, "_put_document", die)
    with pytest.raises(Crash):
        dying.restore("web", state("web", 1))  # seals the journal, then dies
    with pytest.raises(StateError, match="another run wrote state serial 2"):
        stale.write(state("web", 3, resources=3))
    reader = s3(local_cloud, bucket)
    assert reader.read("web") == state("web", 2, resources=2)
    reader.write(state("web", 3, resources=4))  # replaces the document of a sealed journal
    assert s3(local_cloud, bucket).read("web") == state("web", 3, resources=4)


def test_s3_a_crash_between_the_compacted_document_and_the_journal_delete_loses_nothing(
    local_cloud: LocalCloudFixture, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = s3(local_cloud, bucket)
    lock = LockInfo.new("deploy")
    backend.lock("web", lock)
    for serial in (1, 2, 3):
        backend.write(state("web", serial, resources=serial))

    def die(*args: Any, **kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(backend, "_drop_journals", die)
    with pytest.raises(Crash):
        backend.unlock("web", lock.id)
    assert len(journal_keys(local_cloud, bucket)) == 3, "two records and the seal are left"
    reader = s3(local_cloud, bucket)
    assert reader.read("web") == state("web", 3, resources=3)
    reader.write(state("web", 4, resources=4))
    assert s3(local_cloud, bucket).read("web") == state("web", 4, resources=4)
