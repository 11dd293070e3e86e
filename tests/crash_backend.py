"""A state backend that dies like a killed process, for crash tests (engine and
integration): from the N-th write on, nothing reaches the disk and the lock stays."""

from __future__ import annotations

import threading
from pathlib import Path

from infradsl.state.local import LocalBackend
from infradsl.state.model import StackState


class Crash(Exception):
    """The process died: nothing after this reaches the disk."""


class CrashingBackend(LocalBackend):
    """Dies at the ``crash_at``-th state write (never, with ``None``); counts writes."""

    def __init__(self, root: Path, crash_at: int | None) -> None:
        super().__init__(root, "local")
        self.crash_at = crash_at
        self.writes = 0
        self._dead = threading.Event()

    def write(self, state: StackState) -> None:
        self.writes += 1
        if self.crash_at is not None and self.writes >= self.crash_at:
            self._dead.set()
        if self._dead.is_set():
            raise Crash(f"killed at write {self.writes}")
        super().write(state)

    def restore(self, stack: str, state: StackState | None) -> None:
        if self._dead.is_set():
            raise Crash("killed")
        super().restore(stack, state)

    def unlock(self, stack: str, lock_id: str) -> None:
        if not self._dead.is_set():  # a dead process leaves its lock behind
            super().unlock(stack, lock_id)
