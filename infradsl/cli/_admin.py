"""``state``, ``history`` and ``local`` commands."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from infradsl.cli._backend import app_option, open_state, state_location
from infradsl.cli._exit import ExitCode

if TYPE_CHECKING:
    from infradsl.state.backend import LockInfo

# The state backends are imported by the commands that use them: registering these
# commands must not slow down every other command (`infradsl synth` above all).
__all__ = ["app_option", "register", "stack_name"]


def _backend(obj: Any, app_path: str | None) -> Any:
    """The state of the command: ``--state``, or where the app at ``app_path`` keeps it."""
    return open_state(obj.target, state_location(obj.state, app_path))


def stack_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback refusing a stack name that is not a plain name (a path would
    reach files outside the state folder)."""
    from infradsl.state.backend import StateError, check_stack_name

    if value is None:
        return None
    try:
        return check_stack_name(value)
    except StateError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _lock_note(stack: str, holder: LockInfo) -> str:
    """How `state list` shows a stack's lock."""
    from infradsl.state.backend import LockInfo

    if holder == LockInfo.unreadable():
        return (
            "unreadable lock (a run died while taking it): clear it with "
            f"`infradsl state unlock {holder.id} --stack {stack}`"
        )
    if holder.holder_gone():
        return f"lock left by a dead run ({holder.id}): the next run takes it over"
    return f"locked by {holder.user}@{holder.host} ({holder.id})"


def took_over(stack: str, taken: LockInfo | None) -> None:
    """Say so when taking the lock took over a dead run's."""
    if taken is not None:
        click.echo(f"note: {stack}: {taken.takeover_note()}", err=True)


@click.group()
def state() -> None:
    """Inspect state, restore earlier versions and clear stale locks."""


@state.command("list")
@app_option
@click.pass_obj
def state_list(obj: Any, app_path: str | None) -> None:
    """List the stacks that have a state or a lock on this target."""
    from infradsl.state.backend import StateError

    backend = _backend(obj, app_path)
    with_state = set(backend.stacks())
    names = sorted(with_state | set(backend.locked_stacks()))
    if not names:
        hint = (
            " (pass --app APP to look where the app keeps its state)"
            if app_path is None and not obj.state
            else ""
        )
        click.echo(f"no state for target {obj.target!r} in {backend.location}{hint}")
        return
    for name in names:
        parts = [name]
        if name not in with_state:
            parts.append("(no state yet)")
        else:
            try:
                st = backend.read(name)
            except StateError:
                parts.append(f"CORRUPT: see `infradsl state history {name}`")
            else:
                if st is not None:
                    parts += [st.region, _count(st), f"serial {st.serial}"]
        holder = backend.lock_holder(name)
        if holder is not None:
            parts.append(_lock_note(name, holder))
        click.echo("  ".join(parts))


@state.command("show")
@click.argument("stack", callback=stack_name)
@app_option
@click.pass_obj
def state_show(obj: Any, stack: str, app_path: str | None) -> None:
    """Show the resources of a stack's state."""
    from rich.table import Table

    st = _backend(obj, app_path).read(stack)
    if st is None:
        raise click.UsageError(f"stack {stack!r} has no state on target {obj.target!r}")
    table = Table(
        title=f"{stack} ({st.region}, {obj.target}), serial {st.serial}",
        title_justify="left",
        box=None,
        header_style="bold",
    )
    for column in ("resource", "type", "physical id"):
        table.add_column(column)
    for path in sorted(st.resources):
        res = st.resources[path]
        table.add_row(path, res.type, res.physical_id)
    from infradsl.cli.render import make_console

    console = make_console()
    console.print(table)
    if st.outputs:
        from infradsl.cli.render import render_outputs

        console.print()
        render_outputs(console, stack, st.outputs)


@state.command("unlock")
@click.argument("lock_id")
@click.option(
    "--stack",
    default=None,
    callback=stack_name,
    help="The locked stack (found by lock id otherwise).",
)
@app_option
@click.pass_obj
def state_unlock(obj: Any, lock_id: str, stack: str | None, app_path: str | None) -> None:
    """Clear a lock left by a run that died (LOCK_ID is shown in the lock error)."""
    import socket

    backend = _backend(obj, app_path)
    # Stacks being deployed for the first time have a lock and no state yet.
    names = [stack] if stack else sorted(set(backend.stacks()) | set(backend.locked_stacks()))
    for name in names:
        holder = backend.lock_holder(name)
        if holder is None or holder.id != lock_id:
            continue
        if holder.host == socket.gethostname() and not holder.holder_gone():
            click.echo(f"warning: process {holder.pid} holding the lock is still running", err=True)
        backend.unlock(name, lock_id)
        click.echo(
            f"unlocked {name} (was held by {holder.user}@{holder.host}, "
            f"pid {holder.pid}, {holder.operation})"
        )
        return
    raise click.UsageError(
        f"no lock with id {lock_id!r} on target {obj.target!r} in {backend.location}"
    )


@state.command("history")
@click.argument("stack", callback=stack_name)
@app_option
@click.pass_obj
def state_history(obj: Any, stack: str, app_path: str | None) -> None:
    """List the kept previous versions of a stack's state (newest first)."""
    from infradsl.state.backend import StateError

    backend = _backend(obj, app_path)
    versions = backend.versions(stack)
    corrupt = False
    current = None
    try:
        current = backend.read(stack)
    except StateError as exc:
        corrupt = True
        click.echo(f"current state: CORRUPT ({exc})")
    else:
        if current is None and not versions:
            # Destroyed, or its first deploy was rolled back: its runs are still recorded.
            runs = backend.history(stack)
            what = "1 recorded run" if len(runs) == 1 else f"{len(runs)} recorded runs"
            hint = f"; its {what}: `infradsl history --stack {stack}`"
            raise click.UsageError(
                f"stack {stack!r} has no state on target {obj.target!r}" + (hint if runs else "")
            )
        if current is not None:
            click.echo(f"serial {current.serial:>5}  current              {_count(current)}")
    for serial, written in versions:
        try:
            count = _count(backend.read_version(stack, serial))
        except StateError as exc:
            count = f"unreadable ({exc})"
        same = "  (as current)" if current is not None and serial == current.serial else ""
        click.echo(f"serial {serial:>5}  {_time(written)}  {count}{same}")
    if versions and corrupt:
        # The newest kept version is the state the last run ended with.
        click.echo(
            f"restore the newest with `infradsl state restore {stack} {versions[0][0]}`, "
            "then run `infradsl plan`"
        )
    elif versions:
        click.echo(f"restore one with `infradsl state restore {stack} SERIAL`")


@state.command("restore")
@click.argument("stack", callback=stack_name)
@click.argument("serial", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@app_option
@click.pass_obj
def state_restore(obj: Any, stack: str, serial: int, yes: bool, app_path: str | None) -> None:
    """Make a kept version of a stack's state current again (as a new, higher serial).

    This changes only what infradsl believes is deployed, not the cloud: run
    ``infradsl plan`` afterwards to see how the cloud differs.
    """
    from infradsl.state.backend import LockInfo, StateError

    backend = _backend(obj, app_path)
    version = backend.read_version(stack, serial)
    damaged = False
    current = None
    try:
        current = backend.read(stack)
    except StateError:
        damaged = True
        now = "the CORRUPT current state (it is set aside next to the versions)"
    else:
        now = (
            f"the current state (serial {current.serial}, {_count(current)})"
            if current is not None
            else "no current state"
        )
    click.echo(f"restoring {stack} to serial {serial} ({_count(version)}), replacing {now}")
    if not yes:
        if not sys.stdin.isatty():
            from infradsl.cli._deploy import RefusedError

            raise RefusedError(
                "refusing to restore state without confirmation: no terminal to ask on. "
                "Pass --yes to restore anyway"
            )
        if not click.confirm("Do you want to restore this version?", default=False):
            click.echo("state not changed")
            return
    lock = LockInfo.new("restore")
    took_over(stack, backend.lock(stack, lock))
    try:
        written = backend.restore_version(stack, serial)
    finally:
        backend.unlock(stack, lock.id)
    replaced = (
        "the corrupt state is set aside next to the versions"
        if damaged
        else "the replaced state is kept as a version too"
    )
    click.echo(
        f"restored {stack}: serial {written.serial} is version {serial} "
        f"({_count(written)}); {replaced}. Run `infradsl plan` to compare it with the cloud"
    )


def _count(st: Any) -> str:
    count = len(st.resources)
    return f"{count} resource" + ("" if count == 1 else "s")


def _time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


@click.command()
@click.option("--stack", default=None, callback=stack_name, help="Only this stack.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run, with every field.")
@app_option
@click.pass_obj
def history(obj: Any, stack: str | None, as_json: bool, app_path: str | None) -> None:
    """Show the deployment history: time, user, git commit and branch, summary, result,
    plan hash."""
    backend = _backend(obj, app_path)
    # Destroyed stacks and failed first deploys have a history but no state.
    names = [stack] if stack else sorted(set(backend.stacks()) | set(backend.history_stacks()))
    for name in names:
        for rec in backend.history(name):
            if as_json:
                import json

                click.echo(json.dumps({"stack": name, **rec}, sort_keys=True))
                continue
            commit = (rec.get("commit") or "no git")[:10]
            if rec.get("commit") and rec.get("branch"):
                commit += f" {rec['branch']}"
            if rec.get("at"):
                commit += f" (--at {rec['at']})"
            dirty = " (dirty)" if rec.get("dirty") else ""
            summary = ", ".join(f"{v} {k}" for k, v in rec.get("summary", {}).items()) or "-"
            plan = str(rec.get("plan_hash") or "").removeprefix("sha256:")[:12]
            click.echo(
                f"{rec['time']}  {name}  {rec['operation']}  {rec['user']}  "
                f"{commit}{dirty}  {summary}  {rec['result']}" + (f"  plan {plan}" if plan else "")
            )


@click.group()
def local() -> None:
    """The embedded local cloud (moto's server on 127.0.0.1)."""


@local.command("start")
@click.option("--port", type=int, default=None, help="Port (default 4566).")
def local_start(port: int | None) -> None:
    """Start the local cloud in the background."""
    from infradsl.local.server import local_status, start

    before = local_status()
    cloud = start(port)
    verb = "already running" if before is not None else "started"
    click.echo(f"local cloud {verb} at {cloud.endpoint} (pid {cloud.pid})")


@local.command("stop")
def local_stop() -> None:
    """Stop the local cloud (everything in it is forgotten)."""
    from infradsl.local.server import stop

    stopped = stop()
    click.echo(
        f"stopped the local cloud at {stopped.endpoint}"
        if stopped
        else "the local cloud is not running"
    )


@local.command("status")
def local_status_cmd() -> None:
    """Show the endpoint, pid and uptime of the local cloud."""
    from infradsl.local.server import is_ready, local_status

    cloud = local_status()
    if cloud is None:
        click.echo("the local cloud is not running (it starts on the next plan or deploy)")
        sys.exit(ExitCode.BAD_INPUT)
    if cloud.external:
        answering = is_ready(cloud.endpoint)
        state = "answering" if answering else "NOT answering"
        click.echo(f"endpoint {cloud.endpoint} (INFRADSL_LOCAL_ENDPOINT, {state})")
        if not answering:
            sys.exit(ExitCode.BAD_INPUT)
        return
    uptime = cloud.uptime() or 0.0
    click.echo(
        f"endpoint {cloud.endpoint}  pid {cloud.pid}  up {_duration(uptime)}  "
        f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(cloud.started_at))}"
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def register(group: click.Group) -> None:
    """Add the commands to the ``infradsl`` group."""
    group.add_command(state)
    group.add_command(history)
    group.add_command(local)
