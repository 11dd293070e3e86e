"""Running a replacement's migration: a user's hook or command, between the new resource's
creation and the old one's deletion.

A migration is declared on the resource (``ec2.Instance(..., migration=ec2.Migration(...))``)
and synthesized as data: ``{"command": ..., "timeout": ...}`` or ``{"hook": "module:name"}``.
The engine runs it after every other change of the deploy succeeded (the data volumes have
moved by then) and before the cleanup deletes the old resource. A failed migration fails
the deploy, which is then rolled back like any other failure.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infradsl.core.hooks import find_hook
from infradsl.errors import InfraDslError
from infradsl.plan.stateful import describe_migration

__all__ = ["MigrationError", "describe_migration", "migration_environment", "run_migration"]

_OUTPUT_LINES = 20


class MigrationError(InfraDslError):
    """A migration hook or command failed, timed out, or cannot be found."""


def migration_environment(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, str]:
    """``INFRADSL_OLD_<ATTRIBUTE>`` and ``INFRADSL_NEW_<ATTRIBUTE>`` for scalar attributes."""
    env: dict[str, str] = {}
    for prefix, attributes in (("INFRADSL_OLD_", old), ("INFRADSL_NEW_", new)):
        for name, value in attributes.items():
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                env[prefix + name.upper()] = str(value)
            elif isinstance(value, bool):
                env[prefix + name.upper()] = "true" if value else "false"
    return env


def run_migration(
    spec: Mapping[str, Any],
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    cwd: Path | None = None,
) -> str:
    """Run the migration ``spec`` for a replacement from ``old`` to ``new`` attributes.

    Returns:
        The command's output (or ``""`` for a hook), for the progress view.

    Raises:
        MigrationError: the hook raised or is unknown, the command exited non-zero, or it
            ran longer than ``spec["timeout"]`` seconds.
    """
    timeout = float(spec.get("timeout") or 900)
    if spec.get("command"):
        return _run_command(str(spec["command"]), old, new, timeout, cwd)
    key = str(spec.get("hook") or "")
    hook = find_hook(key)
    if hook is None:
        raise MigrationError(
            f"migration hook {key!r} is not known to this run: it must be a function of the "
            "app, declared with ec2.Migration(hook=...) in the code being deployed"
        )
    return _run_hook(key, hook, dict(old), dict(new), timeout)


def _run_command(
    command: str, old: Mapping[str, Any], new: Mapping[str, Any], timeout: float, cwd: Path | None
) -> str:
    env = {**os.environ, **migration_environment(old, new)}
    try:
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise MigrationError(
            f"migration command {command!r} ran longer than its timeout ({timeout:.0f}s)"
        ) from None
    except OSError as exc:
        raise MigrationError(f"migration command {command!r} could not start: {exc}") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-_OUTPUT_LINES:])
        raise MigrationError(
            f"migration command {command!r} exited with {result.returncode}"
            + (f":\n{tail}" if tail else "")
        )
    return output


def _run_hook(
    key: str, hook: Any, old: dict[str, Any], new: dict[str, Any], timeout: float
) -> str:
    failure: list[BaseException] = []

    def call() -> None:
        try:
            hook(old, new)
        except BaseException as exc:  # reported below, with the hook's name
            failure.append(exc)

    worker = threading.Thread(target=call, name=f"migration {key}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise MigrationError(f"migration hook {key} ran longer than its timeout ({timeout:.0f}s)")
    if failure:
        exc = failure[0]
        raise MigrationError(f"migration hook {key} failed: {type(exc).__name__}: {exc}")
    return ""
