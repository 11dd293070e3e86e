"""The coalescer turns concurrent single reads into batched fetches."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import pytest

from infradsl.providers.aws._batch import Coalescer


def test_concurrent_gets_share_fetches_and_each_gets_its_own_value() -> None:
    coalescer: Coalescer[str, str] = Coalescer()
    batches: list[list[str]] = []
    gate = threading.Event()

    def fetch(keys: list[str]) -> Mapping[str, str]:
        batches.append(sorted(keys))
        gate.wait(5)  # the first call is in flight while the others arrive
        return {k: k.upper() for k in keys if k != "missing"}

    results: dict[str, str | None] = {}

    def ask(key: str) -> None:
        results[key] = coalescer.get(key, fetch)

    threads = [threading.Thread(target=ask, args=(k,)) for k in ["a", "b", "c", "d", "missing"]]
    threads[0].start()
    time.sleep(0.05)
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.05)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == {"a": "A", "b": "B", "c": "C", "d": "D", "missing": None}
    assert batches == [["a"], ["b", "c", "d", "missing"]]


def test_a_failed_fetch_fails_every_caller_of_that_batch_and_the_next_batch_runs() -> None:
    coalescer: Coalescer[str, str] = Coalescer()
    calls = [0]

    def fetch(keys: list[str]) -> Mapping[str, str]:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("throttled")
        return {k: k for k in keys}

    with pytest.raises(RuntimeError, match="throttled"):
        coalescer.get("a", fetch)
    assert coalescer.get("b", fetch) == "b"
