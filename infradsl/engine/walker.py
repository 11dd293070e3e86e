"""A parallel graph walker: a node starts as soon as all its dependencies succeeded.

No level barriers: independent nodes run side by side, bounded by ``concurrency``. The
first failure stops scheduling; calls in flight finish; everything not started is
skipped. The walk returns an outcome per node instead of raising halfway.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

import attrs

__all__ = ["Outcome", "Result", "walk"]

K = TypeVar("K", bound=Hashable)


class Outcome(enum.Enum):
    """How a node ended."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@attrs.frozen
class Result(Generic[K]):
    """The outcome of a walk: per node, and the errors of failed nodes."""

    outcomes: Mapping[K, Outcome]
    errors: Mapping[K, BaseException]

    @property
    def ok(self) -> bool:
        """True when every node is done."""
        return all(o is Outcome.DONE for o in self.outcomes.values())


def walk(
    dependencies: Mapping[K, set[K]],
    run: Callable[[K], None],
    *,
    concurrency: int = 10,
    stop: threading.Event | None = None,
    order: Callable[[K], str] = str,
) -> Result[K]:
    """Run ``run(node)`` for every node after all of its dependencies succeeded.

    Args:
        dependencies: node -> nodes it waits for (unknown nodes are ignored).
        run: the work; an exception marks the node failed and stops scheduling.
        concurrency: at most this many nodes run at once.
        stop: when set (e.g. by Ctrl-C), nothing new is scheduled.
        order: tie-breaker among ready nodes (deterministic start order).

    Example:
        >>> done = []
        >>> walk({"vpc": set(), "subnet": {"vpc"}}, done.append).ok
        True
        >>> done
        ['vpc', 'subnet']
    """
    waiting = {n: {d for d in deps if d in dependencies} for n, deps in dependencies.items()}
    dependents: dict[K, list[K]] = {n: [] for n in dependencies}
    for node, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(node)
    outcomes: dict[K, Outcome] = {}
    errors: dict[K, BaseException] = {}
    ready = sorted((n for n, d in waiting.items() if not d), key=order)
    halted = False
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        running: dict[Future[None], K] = {}
        while ready or running:
            while ready and len(running) < concurrency and not halted:
                if stop is not None and stop.is_set():
                    halted = True
                    break
                node = ready.pop(0)
                running[pool.submit(run, node)] = node
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            newly_ready: list[K] = []
            for future in finished:
                node = running.pop(future)
                error = future.exception()
                if error is not None:
                    outcomes[node] = Outcome.FAILED
                    errors[node] = error
                    halted = True
                    continue
                outcomes[node] = Outcome.DONE
                for nxt in dependents[node]:
                    waiting[nxt].discard(node)
                    if not waiting[nxt]:
                        newly_ready.append(nxt)
            ready = sorted([*ready, *newly_ready], key=order)
            if halted:
                ready = []
    for node in dependencies:
        outcomes.setdefault(node, Outcome.SKIPPED)
    return Result(outcomes, errors)
