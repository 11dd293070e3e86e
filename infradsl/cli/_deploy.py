"""``plan``, ``deploy`` and ``destroy``: build a session, render, confirm, map exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infradsl.cli._account import account_line
from infradsl.cli._exit import ExitCode, for_status
from infradsl.cli.render import make_console
from infradsl.engine.executor import Status
from infradsl.engine.session import Session, StackRun
from infradsl.errors import InfraDslError
from infradsl.plan.change import Plan

if TYPE_CHECKING:
    from infradsl.cli._saved import RunHooks


class RefusedError(InfraDslError):
    """The command refused to go on (nothing was changed); exit code 1."""


__all__ = ["RefusedError", "make_session", "run_apply", "run_plan"]


def make_session(
    target: str, state: str | None, app_path: str | None, listener: Any = None
) -> Session:
    """A session for the target: the local cloud is started on first use."""
    from infradsl.cli._backend import open_state

    endpoint: str | None = None
    if target == "local":
        from infradsl.local.server import ensure_local_cloud, local_status

        if local_status() is None:
            click.echo("starting the local cloud (moto) on 127.0.0.1 ...", err=True)
        endpoint = ensure_local_cloud().endpoint
    from infradsl.providers.aws.provider import aws_provider

    session = Session.with_provider(
        open_state(target, state, endpoint=endpoint),
        aws_provider(endpoint),
        target=target,
        listener=listener,
        app_folder=Path(app_path).resolve().parent if app_path else None,
    )
    if app_path:
        session.app_path = app_path
    if target == "local":
        from infradsl.local.server import instance_id

        session.local_instance = instance_id(session.clients_for("us-east-1"))
        # Reading the local cloud's marker just proved that it answers, in every region.
        session.preflight = None
    return session


def run_plan(
    documents: Mapping[str, Mapping[str, Any]],
    target: str,
    state: str | None,
    app_path: str,
    *,
    as_json: bool = False,
    detailed: bool,
    refresh: bool,
    fmt: str = "text",
    out: str | None = None,
) -> int:
    """Plan; print it as text, JSON (``as_json`` or ``fmt="json"``) or Markdown, and save
    it to ``out`` (`infradsl.cli._saved`). Returns the exit code."""
    from infradsl.cli.render import render_plans

    fmt = "json" if as_json else fmt
    session = make_session(target, state, app_path)
    if target == "aws":
        line = account_line(session, documents)
        # With --json or --format markdown, stdout is the plan only.
        click.echo(line, err=fmt != "text")
    if out is not None:
        from infradsl.cli._saved import save_plan, state_basis

        before = state_basis(session, list(documents))
    plans = session.plan_all(documents, refresh=refresh)
    if out is not None:
        save_plan(
            out,
            app_path=app_path,
            target=target,
            refresh=refresh,
            documents=documents,
            plans=plans,
            before=before,
            after=state_basis(session, list(documents)),
        )
    if fmt == "json":
        click.echo(json.dumps([p.to_json() for p in plans], indent=2, sort_keys=True))
    elif fmt == "markdown":
        from infradsl.cli._markdown import render_markdown

        click.echo(render_markdown(plans, target=target, documents=documents), nl=False)
    else:
        render_plans(make_console(), plans, target=target)
    if out is not None:
        click.echo(
            f"plan saved to {out}: apply it with `infradsl deploy {app_path} --plan {out}`",
            err=True,
        )
    changed = any(p.has_changes for p in plans)
    return ExitCode.CHANGES if (detailed and changed) else ExitCode.OK


def _confirm(plans: Sequence[Plan], yes: bool, console: Any, verb: str) -> bool:
    reasons = [r for p in plans for r in p.confirmation_reasons()]
    if yes or not reasons:
        return True
    console.print("[yellow]These changes are destructive or widen permissions:[/]")
    for reason in reasons:
        console.print(f"  - {reason}")
    if not sys.stdin.isatty():
        raise RefusedError(
            f"refusing to {verb} without confirmation: no terminal to ask on. Review the plan "
            f"and rerun with --yes"
        )
    return click.confirm(f"Do you want to {verb}?", default=False)


def run_apply(
    documents: Mapping[str, Mapping[str, Any] | None],
    target: str,
    state: str | None,
    app_path: str,
    *,
    operation: str,
    yes: bool,
    concurrency: int,
    rollback: bool,
    refresh: bool = True,
    hooks: RunHooks | None = None,
) -> int:
    """Deploy or destroy; returns the exit code. ``hooks``: what ``--plan``,
    ``--lock-timeout`` and ``--at`` add (`infradsl.cli._saved.RunHooks`)."""
    from infradsl.cli.render import ProgressView, render_plans

    console = make_console()
    view = ProgressView(console, label="destroying" if operation == "destroy" else "deploying")
    session = make_session(target, state, app_path, listener=view)
    if hooks is not None:
        hooks.prepare(session)
    session.warm(documents)
    if target == "aws":
        console.print(account_line(session, documents))

    def on_plan(plans: Sequence[Plan]) -> None:
        render_plans(console, plans, target=target)
        if hooks is not None:
            hooks.planned(session, plans)
        view.total = sum(1 for p in plans for c in p.changes if c.action.verb != "no-op")

    def confirm(plans: Sequence[Plan]) -> bool:
        ok = _confirm(plans, yes, console, operation)
        if ok:
            console.print()
            view.start()
        return ok

    restore = _install_interrupt_handler(session, console, operation)
    try:
        runs = session.apply(
            documents,
            operation=operation,
            confirm=confirm,
            concurrency=concurrency,
            rollback=rollback,
            refresh=refresh,
            on_plan=on_plan,
        )
    finally:
        restore()
        view.stop()
    return _report(console, runs, operation)


def _install_interrupt_handler(session: Session, console: Any, operation: str) -> Any:
    """First Ctrl-C, SIGTERM (a cancelled CI job) or SIGHUP (a closed terminal): stop
    scheduling, finish the calls in flight, save state. A second one: exit at once; the
    journal lets the next run recover what was in flight, and the kernel releases the lock."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    presses = [0]
    names = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}

    def on_signal(signum: int, frame: Any) -> None:
        presses[0] += 1
        what = names.get(signal.Signals(signum), "signal")
        if presses[0] == 1:
            session.stop.set()
            console.print(
                f"[yellow]{what}: stopping the {operation}: no new operation starts; the calls "
                "in flight finish and state is saved. Press Ctrl-C again to exit at once.[/]"
            )
            return
        console.print(
            f"[red]{what} again: exiting now. What was in flight is in the state's journal: "
            f"the next `infradsl plan` or `infradsl {operation}` recovers it.[/]"
        )
        os._exit(ExitCode.INTERRUPTED)

    previous = {sig: signal.signal(sig, on_signal) for sig in names}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _report(console: Any, runs: Sequence[StackRun], operation: str) -> int:
    from infradsl.cli.render import render_outputs

    if runs and all(r.result is None for r in runs):
        console.print("cancelled: nothing was changed")
        return ExitCode.BAD_INPUT
    code = ExitCode.OK
    for run in runs:
        result = run.result
        if result is None:
            continue
        if result.status is Status.OK:
            if run.plan.has_changes:
                console.print(
                    f"[green]✓[/] {run.plan.stack}: {operation} complete "
                    f"({_operations(result.operations)})"
                    if run.plan.has_resource_changes
                    else f"[green]✓[/] {run.plan.stack}: outputs recorded"
                )
            elif run.plan.adopting:
                count = len(run.plan.adopting)
                console.print(
                    f"[green]✓[/] {run.plan.stack}: infradsl's tags added to {count} adopted "
                    f"resource{'s' if count != 1 else ''}"
                )
            for line in result.kept:
                console.print(f"[yellow]  ! {line}[/]")
            if operation == "deploy":
                descriptions = {o.name: o.description for o in run.plan.outputs}
                render_outputs(console, run.plan.stack, result.outputs, descriptions)
            continue
        code = for_status(result.status)
        if result.status is Status.INTERRUPTED:
            console.print(
                f"[yellow]interrupted: {_operations(result.operations)} of {run.plan.stack} "
                f"completed and are saved in state. Run `infradsl {operation}` again to "
                "continue.[/]"
            )
            continue
        for path, message in result.errors:
            console.print(f"[red]error:[/] {run.plan.stack}/{path}: {message}")
        if result.status is Status.ROLLED_BACK:
            console.print(
                f"[yellow]{operation} of {run.plan.stack} failed and was rolled back: "
                "the cloud and the state are as before[/]"
            )
        elif result.status is Status.CLEANUP_FAILED:
            console.print(
                f"[red]{operation} of {run.plan.stack} is done, but deleting the old resources "
                "failed: they stay tracked in state, and the next "
                f"`infradsl {operation}` deletes them.[/]"
            )
            for line in result.leftovers:
                console.print(f"  - {line}")
        elif result.status is Status.ROLLBACK_INCOMPLETE:
            console.print(
                f"[red]{operation} of {run.plan.stack} failed and the rollback is "
                "incomplete. Left behind:[/]"
            )
            for line in result.leftovers:
                console.print(f"  - {line}")
            console.print(
                "State tracks everything listed. Fix the cause and run "
                f"`infradsl {operation}` again to converge, or `infradsl destroy`."
            )
        else:
            console.print(
                f"[red]{operation} of {run.plan.stack} failed; --no-rollback kept "
                "what succeeded (tracked in state). Fix the cause and run "
                f"`infradsl {operation}` again.[/]"
            )
    return code


def _operations(count: int) -> str:
    return f"{count} operation" + ("" if count == 1 else "s")
