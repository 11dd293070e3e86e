"""The handler calls of one run, shared by the executor, the cleanup and the rollback:
contexts, progress events, retries of calls whose outcome is unknown, journaled deletes."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from infradsl.engine.events import Event, Listener
from infradsl.engine.journal import Journal, Op, message
from infradsl.providers.handler import (
    ClientProvider,
    HandlerContext,
    OutcomeUnknownError,
    ResourceHandler,
    notify,
    reporting_to,
)
from infradsl.state.model import ResourceState, StateKey

__all__ = ["MAX_ATTEMPTS", "Calls", "HandlerFor", "backoff", "message"]

HandlerFor = Callable[[str], ResourceHandler]
_T = TypeVar("_T")

MAX_ATTEMPTS = 4
"""Tries of one operation whose calls fail without a known outcome (5xx, timeouts)."""


class Calls:
    """Makes one run's handler calls and reports them.

    Args:
        journal: the run's journal (lineage, tracked resources, intents).
        clients: boto3 clients for the stack's region.
        handler_for: the handler registry.
        listener: receives progress events.
        stop: set to stop: retries give up.
    """

    def __init__(
        self,
        journal: Journal,
        clients: ClientProvider,
        handler_for: HandlerFor,
        listener: Listener,
        stop: threading.Event | None,
    ) -> None:
        self.journal = journal
        self.clients = clients
        self.handler_for = handler_for
        self.listener = listener
        self.stop = stop
        self.stack = journal.stack

    def context(
        self,
        path: str,
        attempt: int,
        *,
        rollback: bool = False,
        fresh: bool = False,
        settle_later: bool = False,
        retiring: bool = False,
    ) -> HandlerContext:
        """The context of a handler call on ``path``."""
        return HandlerContext(
            stack=self.stack,
            path=path,
            region=self.journal.region,
            clients=self.clients,
            rollback=rollback,
            attempt=attempt,
            lineage=self.journal.lineage,
            fresh=fresh,
            settle_later=settle_later,
            retiring=retiring,
        )

    def emit(
        self,
        kind: str,
        change_path: str,
        verb: str,
        type_name: str,
        detail: str = "",
        seconds: float = 0.0,
    ) -> None:
        """Tell the listener."""
        self.listener(Event(kind, self.stack, change_path, verb, type_name, detail, seconds))

    def reporter(self, path: str, verb: str, type_name: str) -> Callable[[str], None]:
        """Where the clients' retry messages for one operation go: the progress view."""
        return lambda message: self.emit("note", path, verb, type_name, message)

    def stopping(self) -> bool:
        """Whether the run was asked to stop."""
        return self.stop is not None and self.stop.is_set()

    def idempotent(self, call: Callable[[], _T]) -> _T:
        """Run an idempotent handler call (update, delete), trying again while its outcome
        is unknown (a 5xx, a timeout, a dropped connection): running it again is safe."""
        tries = 0
        while True:
            tries += 1
            try:
                return call()
            except OutcomeUnknownError as exc:
                if tries >= MAX_ATTEMPTS or self.stopping():
                    raise
                delay = backoff(tries)
                notify(f"{message(exc)}; trying again in {delay:.1f}s (safe to repeat)")
                time.sleep(delay)

    def delete(self, key: StateKey, res: ResourceState, *, rollback: bool = False) -> None:
        """Delete ``res``, tracked at ``key``, with a journaled intent.

        A delete done by a rollback is not added to the run's journal, which the rollback
        is walking."""
        intent = self.journal.intend(
            {
                "op": Op.DELETE.value,
                "path": str(key),
                "type": res.type,
                "physical_id": res.physical_id,
            }
        )
        handler = self.handler_for(res.type)
        # The old half of a replacement, deleted by the cleanup after a successful deploy.
        retiring = key.old and not rollback
        ctx = self.context(key.path, res.attempt, rollback=rollback, retiring=retiring)
        try:
            self.idempotent(lambda: handler.delete(ctx, res.physical_id, res.properties))
        except OutcomeUnknownError:
            # Whether it is gone is unknown: the intent stays, the next run reads it back.
            raise
        except BaseException:
            self.journal.settle(intent)
            raise
        self.journal.record_delete(key, res, intent, journaled=not rollback)

    def delete_reported(self, key: StateKey, res: ResourceState) -> None:
        """`delete`, with start/done/failed events for the progress view."""
        path = key.path
        verb = "delete old" if key.old else "delete"
        self.emit("start", path, verb, res.type, res.physical_id)
        started = time.monotonic()
        try:
            with reporting_to(self.reporter(path, verb, res.type)):
                self.delete(key, res)
        except BaseException as exc:
            self.emit("failed", path, verb, res.type, message(exc), time.monotonic() - started)
            raise
        self.emit("done", path, verb, res.type, res.physical_id, time.monotonic() - started)


def backoff(tries: int) -> float:
    """Seconds before try ``tries + 1``: 0.5 s, 1 s, 2 s... with jitter, capped at 8 s."""
    base: float = min(8.0, 0.5 * 2 ** (tries - 1))
    return base * random.uniform(0.5, 1.0)
