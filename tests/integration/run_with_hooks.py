"""Run the infradsl CLI with test hooks, for tests that need a separate process.

Environment:
    HOOK_LATENCY_MS: sleep this long before every API call.
    HOOK_KILL_AT: signal this process at the N-th mutating call of the deploy...
    HOOK_KILL_WHEN: ...``before`` the call is sent or ``after`` its answer arrived...
    HOOK_SIGNAL: ...with ``KILL`` (default) or ``TERM``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from cloudsnap import is_mutating  # this folder is sys.path[0] when run as a script

from infradsl.cli.main import main
from infradsl.providers.aws.clients import add_event_hook

_count = 0
_lock = threading.Lock()


def _kill_hook(event_name: str, **_: Any) -> None:
    global _count
    _, service, operation = event_name.split(".", 2)
    if service == "ssm" or not is_mutating(operation):
        return
    with _lock:
        _count += 1
        hit = _count == int(os.environ["HOOK_KILL_AT"])
    if hit:
        os.kill(os.getpid(), getattr(signal, "SIG" + os.environ.get("HOOK_SIGNAL", "KILL")))


def _latency_hook(**_: Any) -> None:
    time.sleep(int(os.environ["HOOK_LATENCY_MS"]) / 1000)


if __name__ == "__main__":
    if os.environ.get("HOOK_LATENCY_MS"):
        add_event_hook("before-call", _latency_hook)
    if os.environ.get("HOOK_KILL_AT"):
        when = os.environ.get("HOOK_KILL_WHEN", "before")
        add_event_hook("before-call" if when == "before" else "after-call", _kill_hook)
    main(sys.argv[1:])
