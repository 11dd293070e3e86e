"""The parallel walker: dependencies first, no level barriers, bounded, stops on failure."""

from __future__ import annotations

import threading
import time

from infradsl.engine.walker import Outcome, walk


def test_a_node_starts_as_soon_as_its_own_dependencies_are_done() -> None:
    # slow -> after_slow; fast -> after_fast. after_fast must not wait for slow.
    finished: list[str] = []
    lock = threading.Lock()

    def run(node: str) -> None:
        time.sleep(0.3 if node == "slow" else 0.01)
        with lock:
            finished.append(node)

    deps = {"slow": set(), "fast": set(), "after_slow": {"slow"}, "after_fast": {"fast"}}
    result = walk(deps, run, concurrency=4)
    assert result.ok
    assert finished.index("after_fast") < finished.index("slow")


def test_concurrency_bounds_the_nodes_in_flight() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def run(node: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    result = walk({i: set() for i in range(20)}, run, concurrency=3)
    assert result.ok and peak == 3


def test_a_failure_skips_everything_downstream_and_stops_scheduling() -> None:
    def run(node: str) -> None:
        if node == "b":
            raise RuntimeError("boom")

    deps = {"a": set(), "b": {"a"}, "c": {"b"}, "d": {"c"}}
    result = walk(deps, run, concurrency=1)
    assert result.outcomes == {
        "a": Outcome.DONE,
        "b": Outcome.FAILED,
        "c": Outcome.SKIPPED,
        "d": Outcome.SKIPPED,
    }
    assert str(result.errors["b"]) == "boom"


def test_in_flight_work_finishes_after_a_failure() -> None:
    finished: list[str] = []

    def run(node: str) -> None:
        if node == "bad":
            raise RuntimeError("boom")
        time.sleep(0.1)
        finished.append(node)

    result = walk({"bad": set(), "slow": set()}, run, concurrency=2)
    assert result.outcomes["slow"] is Outcome.DONE
    assert finished == ["slow"]


def test_a_stop_request_schedules_nothing_new() -> None:
    stop = threading.Event()

    def run(node: int) -> None:
        stop.set()

    result = walk({1: set(), 2: {1}, 3: {2}}, run, concurrency=1, stop=stop)
    assert result.outcomes[1] is Outcome.DONE
    assert result.outcomes[3] is Outcome.SKIPPED
