"""State writes of the executor: in order, one at a time, shared by concurrent operations
(group commit), each intent durable before its call, and only the changes journaled."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

from infradsl import App, Stack
from infradsl.aws import ec2
from infradsl.engine.executor import Status
from infradsl.engine.session import Session
from infradsl.providers.fake import FakeCloud
from infradsl.state.delta import ResourceMap
from infradsl.state.local import LocalBackend
from infradsl.state.model import StackState
from infradsl.synth import synthesize

COUNT = 40


def build() -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    for i in range(COUNT):
        ec2.Vpc(stack, f"Vpc{i}", cidr_block=f"10.{i}.0.0/16")
    return synthesize(app)


class SlowBackend(LocalBackend):
    """A local backend whose writes take 20 ms (an S3 PUT); records what was written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "local")
        self.written: list[StackState] = []
        self.overlaps = 0
        self._busy = threading.Lock()

    def write(self, state: StackState) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            self._busy.acquire()
        try:
            time.sleep(0.02)
            super().write(state)
            self.written.append(state)
        finally:
            self._busy.release()


class JournalCheckingCloud(FakeCloud):
    """Notes every create whose intent was not in the last state written before it."""

    def __init__(self, backend: SlowBackend) -> None:
        super().__init__()
        self.backend = backend
        self.unjournaled: list[str] = []

    def _call(self, operation: str, path: str, physical_id: str = "") -> None:
        if operation == "create":
            last = self.backend.written[-1] if self.backend.written else None
            intents = last.pending if last is not None else ()
            if not any(i["op"] == "create" and i["path"] == path for i in intents):
                self.unjournaled.append(path)
        super()._call(operation, path, physical_id)


def deploy(tmp_path: Path) -> tuple[SlowBackend, JournalCheckingCloud, Any]:
    backend = SlowBackend(tmp_path)
    cloud = JournalCheckingCloud(backend)
    session = Session(
        backend, target="local", clients_for=lambda region: cloud, handler_for=cloud.handler
    )
    runs = session.apply(build(), operation="deploy", confirm=lambda plans: True, concurrency=10)
    return backend, cloud, runs[0]


def test_concurrent_operations_share_state_writes_in_order_with_every_intent_durable_first(
    tmp_path: Path,
) -> None:
    backend, cloud, run = deploy(tmp_path)
    assert run.result.status is Status.OK
    assert cloud.unjournaled == [], "a create was called before its intent was written"
    assert backend.overlaps == 0, "two state writes ran at once"
    serials = [s.serial for s in backend.written]
    assert serials == sorted(set(serials)), "serials only grow"
    # One at a time, an intent and a result per create, and the outputs, would be 81.
    assert len(serials) < 2 * COUNT, f"{len(serials)} writes: concurrent records not shared"
    final = LocalBackend(tmp_path, "local").read("demo")
    assert final is not None and len(final.resources) == COUNT and final.pending == ()


def test_each_write_names_the_previous_one_and_only_the_resources_changed_since(
    tmp_path: Path,
) -> None:
    backend, _, _ = deploy(tmp_path)
    maps = [s.resources for s in backend.written]
    assert all(isinstance(m, ResourceMap) for m in maps)
    for before, after in itertools.pairwise(maps):
        assert isinstance(before, ResourceMap) and isinstance(after, ResourceMap)
        assert after.base == before.token
        changed = {k for k in set(before) | set(after) if before.get(k) is not after.get(k)}
        assert changed <= after.changed
    # Up to the last write (where every resource follows the document's options), each
    # names no more than the operations in flight.
    assert all(len(m.changed) <= 10 for m in maps[:-1] if isinstance(m, ResourceMap))
