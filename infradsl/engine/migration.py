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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infradsl.core.hooks import command_directory, find_hook
from infradsl.errors import InfraDslError
from infradsl.plan.change import Action, ResourceChange
from infradsl.plan.stateful import describe_migration, migration_of
from infradsl.state.model import StateKey

if TYPE_CHECKING:
    from infradsl.engine._calls import Calls

__all__ = [
    "MigrationError",
    "describe_migration",
    "migration_environment",
    "run_migration",
    "run_migrations",
]

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
        command = str(spec["command"])
        where = command_directory(command)
        return _run_command(command, old, new, timeout, Path(where) if where else cwd)
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


def _run_hook(key: str, hook: Any, old: dict[str, Any], new: dict[str, Any], timeout: float) -> str:
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


def run_migrations(
    calls: Calls, changes: Mapping[str, ResourceChange], desired: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Run the migration of every replacement that declares one, one at a time, once
    everything else of the deploy succeeded and before the cleanup deletes the old halves.

    Returns:
        ``(path, message)`` of the first migration that failed (the deploy then rolls
        back), or nothing.
    """
    for key, change in sorted(changes.items()):
        # A replacement of this run; or the old half an interrupted run left, whose
        # migration may not have finished: it runs again before the old half goes.
        state_key = StateKey.parse(key)
        path = state_key.path
        if path not in desired or not (
            change.action is Action.REPLACE or (change.action is Action.DELETE and state_key.old)
        ):
            continue
        spec = migration_of(change.type, desired[path])
        if spec is None:
            continue
        with calls.journal.lock:
            if change.action is Action.REPLACE:
                old = calls.journal.retired.get(path)
            else:
                old = calls.journal.resources.get(key)
            new = calls.journal.resources.get(path)
        if old is None or new is None:
            continue
        calls.emit("start", path, "migrate", change.type, describe_migration(spec))
        started = time.monotonic()
        try:
            output = run_migration(spec, old.attributes, new.attributes)
        except MigrationError as exc:
            calls.emit("failed", path, "migrate", change.type, str(exc), time.monotonic() - started)
            return [(path, str(exc))]
        for line in output.splitlines()[-_OUTPUT_LINES:]:
            calls.emit("note", path, "migrate", change.type, line)
        calls.emit(
            "done",
            path,
            "migrate",
            change.type,
            f"{old.physical_id} -> {new.physical_id}",
            time.monotonic() - started,
        )
    return []
