"""The local backend: kernel-released locks, atomic compare-and-swap, private files, and
clear errors when the disk refuses a write."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
from backend_conformance import race, state

from infradsl.state.backend import LockInfo, StateError, StateLockedError
from infradsl.state.local import LocalBackend

# A run in another process: takes the lock, prints its LockInfo, then waits for a line on
# stdin and exits with or without unlocking, or is killed.
HOLDER = textwrap.dedent(
    """
    import json, os, sys
    from infradsl.state.backend import LockInfo
    from infradsl.state.local import LocalBackend

    backend = LocalBackend(sys.argv[1], "local")
    info = LockInfo.new("deploy")
    backend.lock(sys.argv[2], info)
    print(json.dumps(info.to_json()), flush=True)
    if sys.stdin.readline().strip() == "unlock":
        backend.unlock(sys.argv[2], info.id)
    os._exit(0)
    """
)


def hold_lock(root: Path, stack: str) -> tuple[subprocess.Popen[str], LockInfo]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), stack],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the holder process did not take the lock"
    return proc, LockInfo.from_json(json.loads(line))


def test_a_lock_held_by_a_live_process_is_refused_naming_it(tmp_path: Path) -> None:
    proc, holder = hold_lock(tmp_path, "web")
    try:
        with pytest.raises(StateLockedError) as caught:
            LocalBackend(tmp_path, "local").lock("web", LockInfo.new("deploy"))
        assert caught.value.holder == holder and not caught.value.stale
        assert str(caught.value).endswith("wait for it to finish")
    finally:
        proc.communicate("unlock\n", timeout=30)
    assert LocalBackend(tmp_path, "local").lock_holder("web") is None
    assert LocalBackend(tmp_path, "local").lock("web", LockInfo.new("deploy")) is None


def test_the_lock_of_a_killed_process_is_released_by_the_kernel_and_taken_over(
    tmp_path: Path,
) -> None:
    proc, holder = hold_lock(tmp_path, "web")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    backend = LocalBackend(tmp_path, "local")
    assert backend.lock_holder("web") == holder, "the dead run's record is still there"
    mine = LockInfo.new("deploy")
    assert backend.lock("web", mine) == holder
    assert backend.lock_holder("web") == mine
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.created))
    assert holder.takeover_note() == (
        f"took over the lock of a run that is no longer running (deploy by "
        f"{holder.user}@{holder.host}, pid {holder.pid}, since {since})"
    )
    with pytest.raises(StateLockedError):
        LocalBackend(tmp_path, "local").lock("web", LockInfo.new("destroy"))
    backend.unlock("web", mine.id)
    assert not (tmp_path / "local" / "web.lock").exists()


@pytest.mark.parametrize("content", [b"", b'{"id": "abc"', b"\x00\x00garbage"])
def test_an_empty_or_garbage_lock_file_nobody_holds_is_taken_over(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "web.lock").write_bytes(content)
    backend = LocalBackend(tmp_path, "local")
    assert backend.lock_holder("web") == LockInfo.unreadable()
    mine = LockInfo.new("deploy")
    taken = backend.lock("web", mine)
    assert taken == LockInfo.unreadable()
    assert taken.takeover_note() == (
        "took over a lock that could not be read (empty or damaged: a run died while taking it)"
    )
    assert backend.lock_holder("web") == mine


def test_a_lock_in_this_process_is_held_until_it_is_released(tmp_path: Path) -> None:
    first = LockInfo.new("deploy")
    LocalBackend(tmp_path, "local").lock("web", first)  # the instance is dropped at once
    with pytest.raises(StateLockedError) as caught:
        LocalBackend(tmp_path, "local").lock("web", LockInfo.new("deploy"))
    assert caught.value.holder == first
    # Another instance of this process releases it with the lock id (`state unlock`).
    LocalBackend(tmp_path, "local").unlock("web", first.id)
    assert LocalBackend(tmp_path, "local").lock("web", LockInfo.new("deploy")) is None


def test_unlock_of_a_live_holder_in_another_process_frees_the_stack(tmp_path: Path) -> None:
    proc, holder = hold_lock(tmp_path, "web")
    try:
        LocalBackend(tmp_path, "local").unlock("web", holder.id)
        mine = LockInfo.new("deploy")
        assert LocalBackend(tmp_path, "local").lock("web", mine) is None
        # The old holder's own unlock then leaves the new lock alone.
        proc.communicate("unlock\n", timeout=30)
        assert LocalBackend(tmp_path, "local").lock_holder("web") == mine
    finally:
        if proc.poll() is None:
            proc.kill()


def test_two_runs_racing_for_a_dead_runs_lock_get_exactly_one(tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    for attempt in range(20):
        stack = f"race{attempt}"
        dead = attrs.evolve(LockInfo.new("deploy"), pid=2**22 + 7)  # above any pid_max
        (tmp_path / "local" / f"{stack}.lock").write_text(json.dumps(dead.to_json()))
        mine = [LockInfo.new("deploy"), LockInfo.new("destroy")]
        results = race(
            partial(LocalBackend(tmp_path, "local").lock, stack, mine[0]),
            partial(LocalBackend(tmp_path, "local").lock, stack, mine[1]),
        )
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert results[winners[0]] == dead
        loser = results[1 - winners[0]]
        assert isinstance(loser, StateLockedError) and loser.holder == mine[winners[0]]


@pytest.mark.slow  # 300 rounds of two racing writers, each with its fsyncs: seconds
def test_two_writers_from_the_same_serial_never_both_succeed(tmp_path: Path) -> None:
    """Each round, two backends that read serial N write N+1 at the same moment."""
    LocalBackend(tmp_path, "local").write(state("race", 1))
    wrong: list[list[str]] = []
    for round_ in range(300):
        serial = round_ + 2
        writers = [LocalBackend(tmp_path, "local") for _ in range(2)]
        for writer in writers:
            assert writer.read("race") is not None
        results = race(
            partial(writers[0].write, state("race", serial, resources=1)),
            partial(writers[1].write, state("race", serial, resources=2)),
        )
        outcome = [
            "won"
            if result is None
            else "refused"
            if isinstance(result, StateError) and "another run wrote" in str(result)
            else repr(result)
            for result in results
        ]
        if sorted(outcome) != ["refused", "won"]:
            wrong.append(outcome)
        stored = LocalBackend(tmp_path, "local").read("race")
        assert stored is not None and stored.serial == serial
    both = sum(1 for o in wrong if o == ["won", "won"])
    assert not wrong, f"{len(wrong)} of 300 rounds wrong ({both} with two winners): {wrong[:3]}"


def test_state_history_lock_and_version_files_are_private(tmp_path: Path) -> None:
    root = tmp_path / "new" / "state"
    backend = LocalBackend(root, "local")
    lock = LockInfo.new("deploy")
    backend.lock("web", lock)
    backend.write(state("web", 1))
    backend.write(state("web", 2))
    backend.append_history("web", {"result": "ok"})
    backend.unlock("web", lock.id)
    backend.lock("web", LockInfo.new("deploy"))
    folder = root / "local"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"web.json", "web.history.jsonl", "web.lock", "2.json"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (tmp_path / "new", root, folder, folder / ".versions", folder / ".versions/web"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


@pytest.mark.parametrize(
    ("failing", "code", "reason"),
    [
        ("fsync", errno.ENOSPC, "the disk is full (ENOSPC); nothing was written. Free some"),
        ("replace", errno.EROFS, "read-only (EROFS); nothing was written. Make it writable"),
        ("replace", errno.EACCES, "permission denied (EACCES); nothing was written. Check who"),
    ],
)
def test_a_write_the_disk_refuses_is_a_clear_error_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, code: int, reason: str
) -> None:
    backend = LocalBackend(tmp_path, "local")
    backend.write(state("web", 1))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, failing, refuse)
    with pytest.raises(StateError) as caught:
        backend.write(state("web", 2))
    path = tmp_path / "local" / "web.json"
    message = str(caught.value)
    assert message.startswith(f"could not write the state of 'web' to {path}: "), message
    assert reason in message
    monkeypatch.undo()
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []
    assert LocalBackend(tmp_path, "local").read("web") == state("web", 1)
    backend.read("web")
    backend.write(state("web", 2))  # works again once the disk does


def test_history_and_lock_on_a_refusing_disk_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(tmp_path, "local")
    backend.write(state("web", 1))
    real_open = os.open

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith((".history.jsonl", ".tmp")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(StateError, match=r"could not record history of 'web' in .*web\.history"):
        backend.append_history("web", {"result": "ok"})
    full = r": the disk is full \(ENOSPC\); the stack was not locked\. Free some space"
    with pytest.raises(StateError, match=r"could not take the lock of 'web' at .*" + full):
        backend.lock("web", LockInfo.new("deploy"))
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "local").iterdir() if p.name.endswith(".tmp")]
    assert backend.lock("web", LockInfo.new("deploy")) is None


def test_a_stack_name_with_a_path_never_reaches_the_file_system(tmp_path: Path) -> None:
    outside = tmp_path / "x.lock"
    outside.write_text("keep me")
    backend = LocalBackend(tmp_path / "state", "local")
    with pytest.raises(StateError) as caught:
        backend.unlock("../../x", "id")
    assert str(caught.value) == (
        "invalid stack name '../../x': a stack name is letters, digits, '-', '_' and '.', "
        "starting with a letter or digit, without '..' (like the id of a Stack)"
    )
    assert outside.read_text() == "keep me"
