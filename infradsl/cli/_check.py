"""``infradsl check``: render findings as a table and choose the exit code."""

from __future__ import annotations

from typing import Any

from infradsl.cli._exit import ExitCode
from infradsl.errors import ValidationError

__all__ = ["run_check"]

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def run_check(documents: dict[str, dict[str, Any]]) -> int:
    """Print the findings of the built-in rules; return 1 if any is not acknowledged."""
    from rich.markup import escape
    from rich.table import Table

    from infradsl.check import RULES, acknowledgement_problems, run_checks
    from infradsl.cli.render import make_console

    problems = acknowledgement_problems(documents)
    if problems:
        raise ValidationError(problems)

    findings = run_checks(documents)
    console = make_console()
    open_findings = [f for f in findings if f.acknowledged is None]
    acknowledged = [f for f in findings if f.acknowledged is not None]
    resources = sum(len(d["resources"]) for d in documents.values())
    if findings:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for column in ("rule", "severity", "resource", "finding"):
            table.add_column(column)
        for f in open_findings:
            table.add_row(
                f.rule_id,
                f"[{_STYLE[f.severity.value]}]{f.severity.value}[/]",
                f"{f.stack}/{f.path}",
                escape(f"{RULES[f.rule_id].title if f.rule_id in RULES else ''}: {f.message}"),
            )
        for f in acknowledged:
            table.add_row(
                f.rule_id,
                "[dim]acknowledged[/]",
                f"{f.stack}/{f.path}",
                escape(f.message) + f" [dim](reason: {escape(f.acknowledged or '')})[/]",
            )
        console.print(table)
        console.print()
    summary = (
        f"{resources} resources checked against {len(RULES)} rules: "
        f"{len(open_findings)} finding{'s' if len(open_findings) != 1 else ''}"
    )
    if acknowledged:
        summary += f", {len(acknowledged)} acknowledged"
    if open_findings:
        console.print(f"[red]✗[/] {summary}")
        fixes = {f.rule_id for f in open_findings}
        for rule_id in sorted(fixes):
            if rule_id in RULES:
                console.print(f"  {rule_id}: {escape(RULES[rule_id].fix)}")
        console.print(
            "  To accept a finding, acknowledge it on the construct with a reason: "
            'construct.node.acknowledge("RULE", reason="...")'
        )
        return ExitCode.BAD_INPUT
    console.print(f"[green]✓[/] {summary}")
    return ExitCode.OK
