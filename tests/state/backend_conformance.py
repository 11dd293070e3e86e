"""The conformance suite every `StateBackend` passes: `check_state_backend`.

Each check uses its own stack names, so the suite runs against one shared store. A
"process" is a backend instance: `make_backend` is called again for each one, and all
instances see the same store. What a killed run leaves behind (a lock it never
released) is written through `RawDocuments.put_lock`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeVar

import attrs
import pytest

from infradsl.state.backend import (
    MAX_VERSIONS,
    LockInfo,
    StateBackend,
    StateError,
    StateLockedError,
)
from infradsl.state.model import ResourceState, StackState

__all__ = ["RawDocuments", "check_state_backend", "race", "state"]

T = TypeVar("T")


class RawDocuments(Protocol):
    """Byte access to a store's state documents (to corrupt one)."""

    def get(self, stack: str) -> bytes | None:
        """The stored bytes of the stack's document."""
        ...

    def put(self, stack: str, data: bytes) -> None:
        """Replace the stored bytes of the stack's document."""
        ...

    def put_lock(self, stack: str, data: bytes) -> None:
        """Leave ``data`` as the stack's lock, as a run killed while holding it does."""
        ...


def state(stack: str, serial: int, lineage: str = "L1", resources: int = 1) -> StackState:
    """A state document with ``resources`` VPCs."""
    return StackState(
        stack=stack,
        target="local",
        region="us-east-1",
        serial=serial,
        lineage=lineage,
        resources={
            f"Vpc{i}": ResourceState(
                type="aws.ec2.Vpc",
                physical_id=f"vpc-{serial}-{i}",
                inputs={"cidr_block": "10.0.0.0/16"},
                properties={"cidr_block": "10.0.0.0/16"},
                attributes={"id": f"vpc-{serial}-{i}"},
                depends_on=("Other",),
            )
            for i in range(resources)
        },
        outputs={"VpcId": f"vpc-{serial}-0"},
    )


def race(*calls: Callable[[], T]) -> list[T | BaseException]:
    """Run the calls at the same moment in threads; their results or errors, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[T | BaseException] = [RuntimeError("did not run")] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_state_backend(make_backend: Callable[[], StateBackend], raw: RawDocuments) -> None:
    """Run every check against backends made by ``make_backend``.

    Args:
        make_backend: a new backend instance ("process") on the shared store.
        raw: byte access to stored documents, to corrupt one.
    """
    for check in (
        reading_a_stack_never_written_gives_none,
        a_written_state_reads_back_equal_and_is_listed,
        a_stale_writer_is_refused_and_nothing_is_written,
        a_writer_with_another_lineage_is_refused,
        restore_puts_back_a_state_and_none_removes_it,
        a_free_lock_is_taken_and_lock_returns_none,
        a_second_lock_fails_naming_the_holder,
        unlock_with_another_id_does_nothing_and_with_the_right_id_frees,
        a_lock_of_a_stack_without_state_can_be_cleared,
        history_records_are_listed_oldest_first,
        the_last_ten_versions_are_kept_and_one_can_be_restored,
        a_removed_state_can_be_restored_from_its_last_version,
        one_run_keeps_one_version_however_often_it_writes,
        a_version_of_another_lineage_is_not_restored_over_the_current_state,
        a_run_keeps_the_state_it_ends_with_when_it_unlocks,
        a_rolled_back_run_keeps_no_version_of_a_removed_state,
        a_stack_name_that_is_not_a_plain_name_is_refused_everywhere,
    ):
        check(make_backend)
    a_corrupt_document_is_refused_on_read_and_write_and_left_unchanged(make_backend, raw)
    the_newest_good_state_is_restored_after_the_document_is_corrupted(make_backend, raw)
    a_lock_left_by_a_dead_run_on_this_host_is_taken_over(make_backend, raw)


def reading_a_stack_never_written_gives_none(make: Callable[[], StateBackend]) -> None:
    backend = make()
    assert backend.read("never") is None
    assert backend.history("never") == []
    assert backend.versions("never") == []
    assert backend.lock_holder("never") is None
    assert "never" not in backend.stacks()


def a_written_state_reads_back_equal_and_is_listed(make: Callable[[], StateBackend]) -> None:
    written = state("roundtrip", 1, resources=3)
    make().write(written)
    assert make().read("roundtrip") == written
    assert "roundtrip" in make().stacks()


def a_stale_writer_is_refused_and_nothing_is_written(make: Callable[[], StateBackend]) -> None:
    first, second = make(), make()
    first.write(state("stale", 1))
    with pytest.raises(StateError, match=r"serial 1 .* is not older than 1"):
        first.write(state("stale", 1, resources=2))
    assert second.read("stale") == state("stale", 1)
    second.write(state("stale", 2))
    with pytest.raises(StateError, match=r"another run wrote state serial 2 .* since this run"):
        first.write(state("stale", 2, resources=5))
    # Still stale: a higher serial from the same outdated base is refused too.
    with pytest.raises(StateError, match="another run wrote state serial 2"):
        first.write(state("stale", 3, resources=5))
    assert make().read("stale") == state("stale", 2)
    # Reading again makes it a current writer.
    assert first.read("stale") == state("stale", 2)
    first.write(state("stale", 3))
    assert make().read("stale") == state("stale", 3)


def a_writer_with_another_lineage_is_refused(make: Callable[[], StateBackend]) -> None:
    backend = make()
    backend.write(state("lineage", 1, lineage="L1"))
    with pytest.raises(StateError, match=r"lineage L1 in .* differs from L2"):
        backend.write(state("lineage", 2, lineage="L2"))
    assert make().read("lineage") == state("lineage", 1, lineage="L1")


def restore_puts_back_a_state_and_none_removes_it(make: Callable[[], StateBackend]) -> None:
    backend = make()
    original = state("restored", 4)
    backend.write(original)
    backend.write(state("restored", 5, resources=2))
    backend.restore("restored", original)
    assert make().read("restored") == original
    backend.restore("restored", None)
    assert make().read("restored") is None
    assert "restored" not in make().stacks()
    fresh = make()  # a restore of a stack that had no state and has none
    fresh.restore("restored", None)
    assert fresh.read("restored") is None


def a_free_lock_is_taken_and_lock_returns_none(make: Callable[[], StateBackend]) -> None:
    backend = make()
    mine = LockInfo.new("deploy")
    assert backend.lock("free", mine) is None
    assert make().lock_holder("free") == mine
    backend.unlock("free", mine.id)
    assert make().lock_holder("free") is None
    assert make().lock("free", LockInfo.new("destroy")) is None


def a_second_lock_fails_naming_the_holder(make: Callable[[], StateBackend]) -> None:
    holder = attrs.evolve(LockInfo.new("deploy"), user="alice", created=time.time())
    make().lock("locked", holder)
    with pytest.raises(StateLockedError) as caught:
        make().lock("locked", LockInfo.new("destroy"))
    assert caught.value.holder == holder
    assert caught.value.stack == "locked"
    assert not caught.value.stale
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(holder.created))
    message = str(caught.value)
    assert message.startswith(
        f"stack 'locked' is locked by alice@{holder.host} (pid {os.getpid()}, deploy, since {since}"
    )
    assert f"lock id {holder.id}" in message and message.endswith("wait for it to finish")
    assert make().lock_holder("locked") == holder


def unlock_with_another_id_does_nothing_and_with_the_right_id_frees(
    make: Callable[[], StateBackend],
) -> None:
    holder = LockInfo.new("deploy")
    backend = make()
    backend.lock("unlock", holder)
    make().unlock("unlock", "not-the-id")
    assert backend.lock_holder("unlock") == holder
    make().unlock("unlock", holder.id)
    assert backend.lock_holder("unlock") is None
    again = LockInfo.new("destroy")
    make().lock("unlock", again)
    assert backend.lock_holder("unlock") == again


def a_lock_of_a_stack_without_state_can_be_cleared(make: Callable[[], StateBackend]) -> None:
    holder = LockInfo.new("deploy")
    make().lock("lock-only", holder)
    assert make().read("lock-only") is None
    assert make().lock_holder("lock-only") == holder
    assert "lock-only" in make().locked_stacks()
    make().unlock("lock-only", holder.id)
    assert make().lock_holder("lock-only") is None
    assert "lock-only" not in make().locked_stacks()


def a_lock_left_by_a_dead_run_on_this_host_is_taken_over(
    make: Callable[[], StateBackend], raw: RawDocuments
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    holder = attrs.evolve(LockInfo.new("deploy"), pid=int(dead.stdout))
    assert holder.holder_gone()
    raw.put_lock("dead-lock", json.dumps(holder.to_json()).encode())
    assert make().lock_holder("dead-lock") == holder
    mine = LockInfo.new("deploy")
    backend = make()
    assert backend.lock("dead-lock", mine) == holder
    assert make().lock_holder("dead-lock") == mine
    with pytest.raises(StateLockedError) as caught:  # taken over, so held again
        make().lock("dead-lock", LockInfo.new("destroy"))
    assert caught.value.holder == mine and not caught.value.stale
    backend.unlock("dead-lock", mine.id)
    assert make().lock_holder("dead-lock") is None


def history_records_are_listed_oldest_first(make: Callable[[], StateBackend]) -> None:
    records = [
        {
            "time": f"2026-11-26T10:00:0{i}",
            "operation": "deploy",
            "user": "bob",
            "result": "ok",
            "summary": {"create": i},
            "commit": None,
        }
        for i in range(3)
    ]
    for record in records:
        make().append_history("history", record)
    assert make().history("history") == records
    assert make().history("other-history") == []
    listed = make().history_stacks()
    assert "history" in listed, "a stack with a history but no state is listed"
    assert "other-history" not in listed


def the_last_ten_versions_are_kept_and_one_can_be_restored(
    make: Callable[[], StateBackend],
) -> None:
    started = time.time()
    for serial in range(1, 14):  # one run (one backend) per write: a version per run
        backend = make()
        backend.write(state("versions", serial, resources=serial))
    kept = make().versions("versions")
    assert [serial for serial, _ in kept] == list(range(12, 12 - MAX_VERSIONS, -1))
    assert all(started - 5 <= written <= time.time() + 5 for _, written in kept)
    assert make().read_version("versions", 7) == state("versions", 7, resources=7)
    with pytest.raises(
        StateError, match=r"stack 'versions' has no state version 2 \(kept versions: 12, 11, "
    ):
        make().read_version("versions", 2)

    restored = make().restore_version("versions", 7)
    assert restored == attrs.evolve(state("versions", 7, resources=7), serial=14)
    assert make().read("versions") == restored
    assert [serial for serial, _ in make().versions("versions")][:2] == [13, 12]
    # A run that read serial 13 before the restore cannot overwrite it.
    with pytest.raises(StateError):
        backend.write(state("versions", 14))
    assert make().read("versions") == restored


def a_removed_state_can_be_restored_from_its_last_version(
    make: Callable[[], StateBackend],
) -> None:
    make().write(state("removed", 1))
    make().write(state("removed", 2, resources=4))
    make().restore("removed", None)
    assert [serial for serial, _ in make().versions("removed")] == [2, 1]
    expected = attrs.evolve(state("removed", 2, resources=4), serial=3)
    assert make().restore_version("removed", 2) == expected
    assert make().read("removed") == expected


def one_run_keeps_one_version_however_often_it_writes(
    make: Callable[[], StateBackend],
) -> None:
    make().write(state("perrun", 1))
    backend = make()
    for serial in range(2, 6):
        backend.write(state("perrun", serial))
    assert [serial for serial, _ in make().versions("perrun")] == [1]


def a_version_of_another_lineage_is_not_restored_over_the_current_state(
    make: Callable[[], StateBackend],
) -> None:
    backend = make()
    backend.write(state("relineage", 1, lineage="OLD"))
    backend.write(state("relineage", 2, lineage="OLD"))
    backend.restore("relineage", None)  # destroyed
    backend.write(state("relineage", 1, lineage="NEW"))  # deployed again
    with pytest.raises(
        StateError,
        match=r"refusing to restore version 1 of 'relineage': it belongs to lineage OLD, but "
        r"the current state \(serial 1\) has lineage NEW",
    ):
        make().restore_version("relineage", 1)
    assert make().read("relineage") == state("relineage", 1, lineage="NEW")


def a_run_keeps_the_state_it_ends_with_when_it_unlocks(
    make: Callable[[], StateBackend],
) -> None:
    for run in range(2):  # two runs of three writes each
        backend = make()
        lock = LockInfo.new("deploy")
        backend.lock("final", lock)
        if run:
            backend.read("final")
        for serial in range(3 * run + 1, 3 * run + 4):
            backend.write(state("final", serial, resources=serial))
        backend.unlock("final", lock.id)
    # The state each run ended with (3, 6), and what the first run first replaced (1, its
    # own first write): the newest kept version is the current state.
    assert [serial for serial, _ in make().versions("final")] == [6, 3, 1]
    assert make().read_version("final", 6) == make().read("final")
    # A lock that is not this run's keeps nothing.
    backend = make()
    backend.read("final")
    backend.write(state("final", 7))
    backend.unlock("final", "not-the-id")
    assert [serial for serial, _ in make().versions("final")] == [6, 3, 1]


def a_rolled_back_run_keeps_no_version_of_a_removed_state(
    make: Callable[[], StateBackend],
) -> None:
    backend = make()
    lock = LockInfo.new("deploy")
    backend.lock("rolledback", lock)
    backend.write(state("rolledback", 1))
    backend.write(state("rolledback", 2))  # keeps 1, the document this run first replaced
    backend.restore("rolledback", None)  # the stack had no state before the run
    backend.unlock("rolledback", lock.id)
    assert make().read("rolledback") is None
    assert [serial for serial, _ in make().versions("rolledback")] == [1]


def a_stack_name_that_is_not_a_plain_name_is_refused_everywhere(
    make: Callable[[], StateBackend],
) -> None:
    backend = make()
    for bad in ("../../x", "a/b", "..", ".hidden", "", "web..json", "a b", "-x"):
        for name, call in (
            ("read", partial(backend.read, bad)),
            ("write", partial(backend.write, attrs.evolve(state("x", 1), stack=bad))),
            ("restore", partial(backend.restore, bad, None)),
            ("lock", partial(backend.lock, bad, LockInfo.new("deploy"))),
            ("unlock", partial(backend.unlock, bad, "id")),
            ("lock_holder", partial(backend.lock_holder, bad)),
            ("append_history", partial(backend.append_history, bad, {})),
            ("history", partial(backend.history, bad)),
            ("versions", partial(backend.versions, bad)),
            ("read_version", partial(backend.read_version, bad, 1)),
            ("restore_version", partial(backend.restore_version, bad, 1)),
        ):
            with pytest.raises(StateError) as caught:
                call()
            message = str(caught.value)
            assert message.startswith(f"invalid stack name {bad!r}: "), (name, message)
            assert "letters, digits" in message
    for good in ("web", "Web-1", "a.b", "a_b", "9"):
        assert backend.read(good) is None


def a_corrupt_document_is_refused_on_read_and_write_and_left_unchanged(
    make: Callable[[], StateBackend], raw: RawDocuments
) -> None:
    writer = make()
    writer.write(state("corrupt", 1))
    writer.write(state("corrupt", 2))
    truncated = raw.get("corrupt")
    assert truncated is not None
    truncated = truncated[: len(truncated) // 2]
    raw.put("corrupt", truncated)
    with pytest.raises(StateError, match=r"corrupt \(.*\); nothing was changed"):
        make().read("corrupt")
    for backend in (writer, make()):  # one that wrote it before, one that never read it
        with pytest.raises(StateError, match="corrupt"):
            backend.write(state("corrupt", 3))
        with pytest.raises(StateError, match="corrupt"):
            backend.restore("corrupt", state("corrupt", 1))
    assert raw.get("corrupt") == truncated
    # The damage is repaired from a kept version, with a serial above every kept one.
    top = max(serial for serial, _ in make().versions("corrupt"))
    repaired = make().restore_version("corrupt", 1)
    assert repaired == attrs.evolve(state("corrupt", 1), serial=top + 1)
    assert make().read("corrupt") == repaired


def the_newest_good_state_is_restored_after_the_document_is_corrupted(
    make: Callable[[], StateBackend], raw: RawDocuments
) -> None:
    for serial in (1, 4):  # two runs; the second ends at serial 5
        backend = make()
        lock = LockInfo.new("deploy")
        backend.lock("goodlast", lock)
        backend.read("goodlast")
        backend.write(state("goodlast", serial, resources=serial))
        backend.write(state("goodlast", serial + 1, resources=serial + 1))
        backend.unlock("goodlast", lock.id)
    good = make().read("goodlast")
    assert good == state("goodlast", 5, resources=5)
    document = raw.get("goodlast")
    assert document is not None
    raw.put("goodlast", document[:10])
    assert make().versions("goodlast")[0][0] == 5
    repaired = make().restore_version("goodlast", 5)
    assert repaired == attrs.evolve(good, serial=6)
    assert make().read("goodlast") == repaired
