"""``infradsl state reconcile``: find, adopt or delete resources state does not know."""

from __future__ import annotations

import sys
from typing import Any

import click

from infradsl.cli._admin import app_option, stack_name, state, took_over
from infradsl.cli._exit import ExitCode

__all__ = ["reconcile"]


@state.command("reconcile")
@click.argument("stack", callback=stack_name)
@click.option("--region", default=None, help="Region of the stack (default: from its state).")
@click.option("--adopt", "action", flag_value="adopt", help="Adopt untracked resources.")
@click.option("--delete", "action", flag_value="delete", help="Delete untracked resources.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@app_option
@click.pass_obj
def reconcile(
    obj: Any, stack: str, region: str | None, action: str | None, yes: bool, app_path: str | None
) -> None:
    """List resources tagged with STACK that its state does not track; adopt or delete them."""
    from infradsl.cli._backend import state_location
    from infradsl.cli._deploy import RefusedError, make_session
    from infradsl.engine.reconcile import adopt, delete_strays, find_strays
    from infradsl.providers.aws import handlers
    from infradsl.state.backend import LockInfo

    session = make_session(obj.target, state_location(obj.state, app_path), app_path)
    backend = session.backend
    lock = LockInfo.new("reconcile")
    took_over(stack, backend.lock(stack, lock))
    try:
        current = backend.read(stack)
        where = region or (current.region if current else "us-east-1")
        clients = session.clients_for(where)
        strays = find_strays(stack, where, current, clients, session.handler_for, handlers())
        if not strays:
            click.echo(f"{stack}: every resource tagged with the stack is tracked in state")
            return
        click.echo(f"{stack}: {len(strays)} resource(s) tagged with the stack, not in state:")
        for s in strays:
            note = "" if s.adoptable else f"  (duplicate: state tracks another {s.path})"
            click.echo(f"  {s.path}  {s.type}  {s.physical_id}{note}")
        if action is None:
            click.echo(
                "Adopt them with --adopt (duplicates cannot be adopted) or delete them "
                "with --delete."
            )
            return
        if not yes:
            if not sys.stdin.isatty():
                raise RefusedError(f"refusing to {action} without confirmation: rerun with --yes")
            if not click.confirm(f"{action.capitalize()} these resources?", default=False):
                return
        if action == "adopt":
            if current is None:
                raise RefusedError(f"stack {stack!r} has no state to adopt into: deploy it first")
            duplicates = [s for s in strays if not s.adoptable]
            if len(duplicates) < len(strays):
                backend.write(adopt(current, strays, clients, session.handler_for))
            click.echo(
                f"adopted {len(strays) - len(duplicates)}; run `infradsl deploy` to "
                "bring them in line with the code"
            )
            if duplicates:
                click.echo(f"{len(duplicates)} duplicate(s) left: delete them with --delete")
        else:
            errors = delete_strays(stack, where, strays, clients, session.handler_for)
            for line in errors:
                click.echo(f"error: {line}", err=True)
            click.echo(f"deleted {len(strays) - len(errors)} of {len(strays)}")
            if errors:
                sys.exit(ExitCode.BAD_INPUT)
    finally:
        backend.unlock(stack, lock.id)
