"""Coalescing: concurrent single-key reads become one batched describe call.

Twenty instances created side by side each need a describe right after their launch; one
``DescribeInstances`` for all twenty costs one round trip and one call instead of twenty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


Fetch = Callable[[list[K]], Mapping[K, V]]


class Coalescer(Generic[K, V]):
    """Batches concurrent `get` calls into one fetch of every key asked so far.

    A caller that finds no fetch in flight becomes the leader: with its own ``fetch`` (its
    own client), it fetches every waiting key and goes on, round after round, with the keys
    that arrived meanwhile, until none is left. The others wait for their round's answer.
    No delay is added to gather a batch: a batch is whatever arrived while the previous
    call was in flight. A coalescer holds no client, so it can be shared per endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[K, list[Future[V | None]]] = {}  # under _lock
        self._busy = False  # a leader is fetching; under _lock

    def get(self, key: K, fetch: Fetch[K, V]) -> V | None:
        """The value of ``key`` (``None`` when the fetch did not find it).

        Args:
            key: what to read.
            fetch: keys -> found values (missing keys are absent), used if this caller
                leads.

        Raises:
            Exception: what ``fetch`` raised for the batch ``key`` was in.
        """
        future: Future[V | None] = Future()
        with self._lock:
            self._waiting.setdefault(key, []).append(future)
            lead = not self._busy
            self._busy = True
        if lead:
            self._drain(fetch)
        return future.result()

    def _drain(self, fetch: Fetch[K, V]) -> None:
        while True:
            with self._lock:
                batch, self._waiting = self._waiting, {}
                if not batch:
                    self._busy = False
                    return
            try:
                found = fetch(list(batch))
            except BaseException as error:
                for futures in batch.values():
                    for future in futures:
                        future.set_exception(error)
                continue
            for key, futures in batch.items():
                for future in futures:
                    future.set_result(found.get(key))
