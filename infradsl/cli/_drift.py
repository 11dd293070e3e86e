"""``infradsl drift``: print what changed outside infradsl; exit 0 when clean, 2 when not."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from infradsl.cli._exit import ExitCode

if TYPE_CHECKING:
    from rich.text import Text

    from infradsl.engine.drift import DriftedProperty, StackDrift

# rich and the engine are imported by the functions that use them: registering the
# command must not slow down every other command (`infradsl synth` above all).
__all__ = ["drift_command", "register", "report_lines"]


def _named(value: Any, paths: Mapping[str, str]) -> Any:
    """``sg-...`` and other ids of the stack's resources shown with their path."""
    if isinstance(value, str) and value in paths:
        return f"{paths[value]} ({value})"
    if isinstance(value, dict):
        return {k: _named(v, paths) for k, v in value.items()}
    return value


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return json.dumps(value, default=str) if not isinstance(value, str) else value


def _property_lines(prop: DriftedProperty, paths: Mapping[str, str]) -> list[Text]:
    from rich.text import Text

    from infradsl.cli._diff import _element

    if prop.added or prop.removed:
        out = [Text.assemble("      ", (f"{prop.name}:", "bold"))]
        for sign, items, what, style in (
            ("+", prop.added, "added outside infradsl", "green"),
            ("-", prop.removed, "removed outside infradsl", "red"),
        ):
            for item in items:
                text = _element(_named(item, paths), prop.name)
                out.append(Text.assemble("        ", (f"{sign} {text}", style), f"  ({what})"))
        return out
    return [
        Text.assemble(
            "      ",
            (f"{prop.name}: ", "bold"),
            (
                f"{_show(_named(prop.recorded, paths))} -> {_show(_named(prop.live, paths))}",
                "yellow",
            ),
            "  (changed outside infradsl)",
        )
    ]


def report_lines(report: StackDrift, paths: Mapping[str, str], target: str) -> list[Text]:
    """The report of one stack as lines a person reads at a glance."""
    from rich.text import Text

    where = f"{report.region}, {target}" if report.region else target
    out = [Text.assemble((f"Stack {report.stack}", "bold"), f" ({where}) drift")]
    out.extend(Text(f"  ! {note}", style="yellow") for note in report.notes)
    for res in report.changed:
        out.append(
            Text.assemble(
                ("  ~ ", "bold yellow"), (res.path, "yellow"), f"  {res.type}  {res.physical_id}"
            )
        )
        for prop in res.properties:
            out.extend(_property_lines(prop, paths))
    for gone in report.deleted:
        out.append(
            Text.assemble(
                ("  - ", "bold red"),
                (gone.path, "red"),
                f"  {gone.type}  {gone.physical_id}  (deleted outside infradsl)",
            )
        )
    for stray in report.unmanaged:
        name = f' "{stray.name}"' if stray.name else ""
        vpc = f" in {stray.vpc}" if stray.vpc else ""
        out.append(
            Text.assemble(
                ("  ? ", "bold magenta"),
                (stray.physical_id, "magenta"),
                f"  {stray.type}{name}{vpc}  (not managed by infradsl)",
            )
        )
        out.append(Text(f"      import it: {stray.command}", style="dim"))
    if report.region:
        out.append(
            Text(
                f"  IaC coverage: {report.managed} of {report.total} resources in scope are "
                f"managed by infradsl ({report.coverage:.1f}%)."
            )
        )
    if report.drifted:
        summary = (
            f"  Drift: {len(report.changed)} changed, {len(report.deleted)} deleted outside "
            f"infradsl, {len(report.unmanaged)} unmanaged."
        )
        out.append(Text(summary, style="bold"))
    else:
        out.append(Text("  No drift: the cloud matches what infradsl deployed.", style="green"))
    return out


@click.command("drift")
@click.argument("app")
@click.option(
    "--stack",
    default=None,
    help="Only the stacks with this name, or matching this glob (e.g. 'webapp-*').",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.pass_obj
def drift_command(obj: Any, app: str, stack: str | None, as_json: bool) -> None:
    """Show what changed outside infradsl (read-only): exit 0 when clean, 2 when drifted.

    Managed resources changed or deleted by hand, and resources in the stacks' VPCs that
    no stack manages, with the IaC coverage and the import command for each.
    """
    from infradsl.cli._deploy import make_session
    from infradsl.cli.main import _load
    from infradsl.cli.render import make_console
    from infradsl.engine.drift import detect_drift
    from infradsl.providers.aws.discovery import AwsDiscovery

    documents, app_state = _load(app, stack)
    session = make_session(obj.target, obj.state or app_state, app)
    discovery = AwsDiscovery()
    reports = []
    for name in sorted(documents):
        reports.append(detect_drift(session, discovery, name))
    if as_json:
        click.echo(json.dumps([r.to_json() for r in reports], indent=2, sort_keys=True))
    else:
        console = make_console()
        for index, report in enumerate(reports):
            if index:
                console.print()
            state = session.backend.read(report.stack)
            paths = {r.physical_id: p for p, r in state.resources.items()} if state else {}
            for line in report_lines(report, paths, obj.target):
                console.print(line)
    sys.exit(ExitCode.CHANGES if any(r.drifted for r in reports) else ExitCode.OK)


def register(group: click.Group) -> None:
    """Add the command to the ``infradsl`` group."""
    group.add_command(drift_command)
