"""The ``infradsl`` command: parsing, exit codes and output. Domain logic lives below."""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from infradsl.cli._exit import ExitCode, for_error
from infradsl.errors import InfraDslError, LoadError, ValidationError

__all__ = ["cli", "main"]

STACK_HELP = "Only the stacks with this name, or matching this glob (e.g. 'webapp-*')."


class Context:
    """Global options shared by every command."""

    def __init__(self, debug: bool, target: str, state: str | None) -> None:
        self.debug = debug
        self.target = target
        self.state = state


_GLOBAL_FLAGS = frozenset({"--debug"})
_GLOBAL_VALUES = frozenset({"--target", "--state"})


def _hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options given after the command in front of it, so that
    ``infradsl deploy app.py --target aws`` means ``infradsl --target aws deploy app.py``.

    No command has options of these names; everything after ``--`` is left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    command_seen = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS or name in _GLOBAL_VALUES:
            takes_value = arg in _GLOBAL_VALUES and index + 1 < len(args)
            taken = args[index : index + (2 if takes_value else 1)]
            (front if command_seen else rest).extend(taken)
            index += len(taken)
            continue
        if not arg.startswith("-"):
            command_seen = True
        rest.append(arg)
        index += 1
    return front + rest


class _Cli(click.Group):
    """The root group: global options are accepted after the command too, and the
    commands defined in modules of their own are added when first looked for."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _hoist_global_options(args))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and _register_more(self):
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register_more(self)
        return super().list_commands(ctx)


_more_registered = False


def _register_more(group: click.Group) -> bool:
    """Add the commands of their own modules (state, history, local, import, drift, image);
    True the first time only.

    Deferred: synth, plan and deploy need none of them, and importing them cost more
    than a twentieth of `infradsl synth` on 5,000 resources.
    """
    global _more_registered
    if _more_registered:
        return False
    _more_registered = True
    # _reconcile adds its command to _admin's `state` group.
    from infradsl.cli import _admin, _drift, _image, _import, _reconcile  # noqa: F401

    _admin.register(group)
    _import.register(group)
    _drift.register(group)
    _image.register(group)
    return True


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--target",
    type=click.Choice(["local", "aws"]),
    default=lambda: os.environ.get("INFRADSL_TARGET", "local"),
    show_default="local",
    help="Where to deploy: the embedded local cloud or real AWS; env INFRADSL_TARGET.",
)
@click.option(
    "--state",
    "state",
    default=None,
    envvar="INFRADSL_STATE",
    help="State location: a directory (default .infradsl/state) or s3://bucket/prefix; "
    "env INFRADSL_STATE.",
)
@click.version_option(package_name="infradsl")
@click.pass_context
def cli(ctx: click.Context, debug: bool, target: str, state: str | None) -> None:
    """infradsl: infrastructure as Python, deployed by its own engine."""
    ctx.obj = Context(debug, target, state)


def _load(app_path: str, stack: str | None = None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Synthesize the app file; return its documents and the state location it sets."""
    from infradsl.cli._loader import load_app
    from infradsl.core._gc import collector_paused
    from infradsl.synth import synthesize

    # The tree and the documents live until the command ends: frozen, later passes of the
    # collector skip them (`main` unfreezes them for in-process callers).
    with collector_paused(freeze=True):
        app = load_app(app_path)
        documents = synthesize(app)
    if stack is not None:
        documents = _select_stacks(documents, stack)
    return documents, app.state


_GLOB_CHARS = frozenset("*?[")


def _select_stacks(documents: dict[str, dict[str, Any]], pattern: str) -> dict[str, dict[str, Any]]:
    """The documents of the stacks ``--stack`` names: one name, or a glob (``webapp-*``)."""
    if not _GLOB_CHARS & set(pattern):
        if pattern not in documents:
            from infradsl.core.construct import did_you_mean

            raise LoadError(
                f"no stack named {pattern!r}; the app has {sorted(documents)}"
                f"{did_you_mean(pattern, documents)}"
            )
        return {pattern: documents[pattern]}
    from fnmatch import fnmatchcase

    chosen = {name: doc for name, doc in documents.items() if fnmatchcase(name, pattern)}
    if not chosen:
        raise LoadError(
            f"no stack matches {pattern!r}; the app has {sorted(documents)}: pass a name or a "
            "glob such as 'webapp-*' (quote it, so the shell leaves it alone)"
        )
    return chosen


@cli.command()
@click.argument("app")
@click.option(
    "-o",
    "--output",
    "outdir",
    default="infradsl.out",
    show_default=True,
    help="Directory for the synthesized JSON documents.",
)
@click.option("--stack", default=None, help=STACK_HELP)
def synth(app: str, outdir: str, stack: str | None) -> None:
    """Write the synthesized JSON document of each stack to OUTDIR/<stack>.json."""
    from infradsl.synth import dumps

    documents, _app_state = _load(app, stack)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in documents.items():
        target = out / f"{name}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(dumps(doc), encoding="utf-8")
        tmp.replace(target)
        count = len(doc["resources"])
        click.echo(f"{target}  ({count} resource{'s' if count != 1 else ''})")


@cli.command()
@click.argument("app")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "dot", "mermaid"]),
    default="tree",
    show_default=True,
    help="Output format.",
)
@click.option("--stack", default=None, help=STACK_HELP)
def graph(app: str, fmt: str, stack: str | None) -> None:
    """Show the dependency graph (dot and mermaid arrows run in deploy order)."""
    from infradsl.cli import _graph

    documents, _app_state = _load(app, stack)
    render = {
        "tree": _graph.render_tree,
        "dot": _graph.render_dot,
        "mermaid": _graph.render_mermaid,
    }[fmt]
    click.echo(render(documents), nl=False)


@cli.command()
@click.argument("app")
@click.option("--stack", default=None, help=STACK_HELP)
def check(app: str, stack: str | None) -> None:
    """Validate the app and run the built-in security rules.

    Exits 1 when a finding is not acknowledged.
    """
    from infradsl.cli._check import run_check

    documents, _app_state = _load(app, stack)
    sys.exit(run_check(documents))


_yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
_concurrency_option = click.option(
    "--concurrency",
    default=10,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Operations in flight at once.",
)
_lock_timeout_option = click.option(
    "--lock-timeout",
    default=None,
    metavar="DURATION",
    help="Wait this long (30s, 5m, 1h) for a lock held by another run instead of exiting 5.",
)


@cli.command()
@click.argument("app")
@click.option("--stack", default=None, help=STACK_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (= --format json).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output: text, JSON (a stable schema) or Markdown (for a pull request comment).",
)
@click.option(
    "-o",
    "--out",
    default=None,
    metavar="PLAN.json",
    help="Also save the plan to this file, for `infradsl deploy APP --plan PLAN.json`.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read the live resources to detect drift.",
)
@click.pass_obj
def plan(
    obj: Context,
    app: str,
    stack: str | None,
    as_json: bool,
    fmt: str,
    out: str | None,
    detailed_exitcode: bool,
    refresh: bool,
) -> None:
    """Show what deploy would change: + create, ~ update, -/+ replace, - delete."""
    from infradsl.cli._deploy import run_plan

    documents, app_state = _load(app, stack)
    sys.exit(
        run_plan(
            documents,
            obj.target,
            obj.state or app_state,
            app,
            as_json=as_json,
            detailed=detailed_exitcode,
            refresh=refresh,
            fmt=fmt,
            out=out,
        )
    )


@cli.command()
@click.argument("app")
@click.option("--stack", default=None, help=STACK_HELP)
@_yes_option
@_concurrency_option
@click.option("--no-rollback", is_flag=True, help="On failure keep what succeeded.")
@click.option(
    "--refresh/--no-refresh", default=True, show_default=True, help="Read the live resources first."
)
@click.option(
    "--plan",
    "plan_file",
    default=None,
    metavar="PLAN.json",
    help="Apply this saved plan (`infradsl plan -o`) exactly; refused if the state, the code "
    "or the cloud changed since.",
)
@click.option(
    "--at",
    "git_ref",
    default=None,
    metavar="GIT_REF",
    help="Deploy the code as it was at this commit (checked out in a temporary git worktree).",
)
@click.option(
    "--require-clean/--allow-dirty",
    default=None,
    help="Refuse to deploy from a git tree with uncommitted changes (default when CI=true).",
)
@_lock_timeout_option
@click.pass_obj
def deploy(
    obj: Context,
    app: str,
    stack: str | None,
    yes: bool,
    concurrency: int,
    no_rollback: bool,
    refresh: bool,
    plan_file: str | None,
    git_ref: str | None,
    require_clean: bool | None,
    lock_timeout: str | None,
) -> None:
    """Create, update, replace and delete resources so the cloud matches the code."""
    from infradsl.cli._deploy import run_apply
    from infradsl.cli._saved import deploy_run

    with deploy_run(
        obj.target,
        app,
        plan_file=plan_file,
        at=git_ref,
        require_clean=require_clean,
        lock_timeout=lock_timeout,
    ) as (app_file, hooks):
        documents, app_state = _load(app_file, stack)
        documents = hooks.check_code(documents)
        sys.exit(
            run_apply(
                documents,
                obj.target,
                obj.state or app_state,
                app_file,
                operation="deploy",
                # A saved plan was reviewed when it was made: applying it is the approval.
                yes=yes or plan_file is not None,
                concurrency=concurrency,
                rollback=not no_rollback,
                refresh=hooks.saved.refresh if hooks.saved else refresh,
                hooks=hooks,
            )
        )


@cli.command()
@click.argument("app")
@click.option("--stack", default=None, help=STACK_HELP)
@_yes_option
@_concurrency_option
@_lock_timeout_option
@click.pass_obj
def destroy(
    obj: Context,
    app: str,
    stack: str | None,
    yes: bool,
    concurrency: int,
    lock_timeout: str | None,
) -> None:
    """Delete every resource of the app's stacks, dependents first."""
    from infradsl.cli._deploy import run_apply
    from infradsl.cli._saved import RunHooks, lock_timeout_seconds

    hooks = RunHooks(lock_timeout=lock_timeout_seconds(lock_timeout), app_path=app)
    loaded, app_state = _load(app, stack)
    documents: dict[str, Any] = {name: None for name in loaded}
    sys.exit(
        run_apply(
            documents,
            obj.target,
            obj.state or app_state,
            app,
            operation="destroy",
            yes=yes,
            concurrency=concurrency,
            rollback=False,
            hooks=hooks,
        )
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``infradsl`` console script; maps errors to exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if argv is not None:
        try:
            _run(args, debug)
        finally:
            # Called in-process (tests): what `_load` froze becomes collectable again.
            gc.unfreeze()
        return
    try:
        _run(args, debug)
    except SystemExit as exc:
        exit_now(exc.code)


def exit_now(code: object) -> NoReturn:
    """End the console script without tearing down the heap: the OS reclaims it.

    Once a command is done, only the interpreter's own teardown is left, and freeing a
    large app's objects one by one (its tree, documents, state and plan: millions at
    100,000 resources) took longer than planning them. Like mypy's ``hard_exit``, the
    streams are flushed and the process ends; unlike it, exit handlers still run. With
    another thread still running, the ordinary exit (which waits for it) is taken.
    """
    this = threading.current_thread()
    if any(t is not this and t.is_alive() and not t.daemon for t in threading.enumerate()):
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _run(args: list[str], debug: bool) -> None:
    try:
        cli.main(args=args, prog_name="infradsl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.BAD_INPUT if exc.exit_code == 2 else exc.exit_code)
    except InfraDslError as exc:
        if debug:
            traceback.print_exc()
        _print_error(exc, debug)
        sys.exit(for_error(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:
        if not type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
            raise
        # Errors the engine handles per operation never get here: this one came while
        # reading or planning, before any change.
        if debug:
            traceback.print_exc()
        click.echo(
            click.style("error: ", fg="red", bold=True)
            + f"the cloud API failed: {exc}. Nothing was changed; run again"
            + ("" if debug else ", or with --debug for a traceback"),
            err=True,
        )
        sys.exit(ExitCode.BAD_INPUT)
    sys.exit(ExitCode.OK)


def _print_error(exc: InfraDslError, debug: bool = False) -> None:
    if isinstance(exc, ValidationError):
        click.echo(click.style("error: ", fg="red", bold=True) + exc.render(), err=True)
    else:
        click.echo(click.style("error: ", fg="red", bold=True) + str(exc), err=True)
    if not debug and not isinstance(exc, ValidationError) and not _is_expected(exc):
        click.echo("(run with --debug for a traceback)", err=True)


def _is_expected(exc: InfraDslError) -> bool:
    from infradsl.cli._deploy import RefusedError
    from infradsl.plan.change import PlanError
    from infradsl.providers.handler import CloudUnreachableError
    from infradsl.state.backend import StateError

    return isinstance(exc, (PlanError, StateError, RefusedError, CloudUnreachableError))
