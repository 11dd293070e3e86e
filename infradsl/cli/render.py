"""Renderables for plans, progress and results (rich). Plain text when not a TTY."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from infradsl.cli._diff import diff_lines, output_line
from infradsl.cli._lookup import lookup_lines
from infradsl.engine.events import Event
from infradsl.plan.change import Action, Plan

__all__ = ["ProgressView", "make_console", "render_outputs", "render_plan", "render_plans"]

_STYLE = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.FORGET: "red",
    Action.NOOP: "dim",
}


def make_console(err: bool = False) -> Console:
    """The console every command prints through (stdout, or stderr with ``err``)."""
    stream = sys.stderr if err else sys.stdout
    tty = stream.isatty()
    # Not a terminal (CI, a pipe): no wrapping and room for long ARNs; emoji off so that
    # ":secret:" inside a Secrets Manager ARN stays text.
    return Console(
        stderr=err, highlight=False, emoji=False, soft_wrap=not tty, width=None if tty else 200
    )


def render_plan(console: Console, plan: Plan, *, target: str, show_noop: bool = False) -> None:
    """Print one stack's plan: a symbol per resource, property diffs and reasons."""
    title = "destroy" if plan.destroy else "plan"
    console.print(
        Text.assemble((f"Stack {plan.stack}", "bold"), f" ({plan.region}, {target}) {title}")
    )
    for note in plan.notes:
        console.print(Text(f"  ! {note}", style="yellow"))
    for line in lookup_lines(plan):
        console.print(line)
    width = max((len(c.path) for c in plan.changes), default=10) + 2
    for change in plan.changes:
        if (change.action is Action.NOOP or change.adoption) and not show_noop:
            continue
        style = _STYLE[change.action]
        line = Text("  ")
        line.append(f"{change.action.value:<3} ", style=f"bold {style}")
        line.append(f"{change.path:<{width}}", style=style)
        line.append(change.type, style="dim")
        if change.reasons:
            line.append(f"  ({'; '.join(change.reasons)})", style="italic")
        console.print(line)
        for diff in change.diffs:
            for diff_line in diff_lines(diff):
                console.print(diff_line)
    outputs = [o for o in plan.outputs if show_noop or o.action is not Action.NOOP]
    if outputs:
        console.print(Text("  Outputs:", style="bold"))
        for output in outputs:
            console.print(output_line(output))
    summary = plan.summary()
    adopting = len(plan.adopting)
    if adopting:
        console.print(
            Text(
                f"  {adopting} adopted resource{'s' if adopting != 1 else ''} (infradsl import) "
                "will get infradsl's tags (Name, infradsl:stack, infradsl:path) at the next "
                "deploy; nothing else about them changes.",
                style="dim",
            )
        )
    if not plan.has_changes:
        console.print(Text("  No changes. The cloud matches the code.", style="green"))
        return
    parts = [
        f"{summary['create']} to create",
        f"{summary['update'] - adopting} to update",
        f"{summary['replace']} to replace",
        f"{summary['delete'] + summary['forget']} to delete",
    ]
    text = f"  Plan: {', '.join(parts)}."
    counts = plan.output_summary()
    changed = [
        f"{counts[verb]} {word}"
        for verb, word in (("create", "added"), ("update", "changed"), ("delete", "removed"))
        if counts[verb]
    ]
    if changed:
        text += f" Outputs: {', '.join(changed)}."
    console.print(Text(text, style="bold"))


def render_plans(console: Console, plans: Sequence[Plan], *, target: str) -> None:
    """Print every stack's plan."""
    for index, plan in enumerate(plans):
        if index:
            console.print()
        render_plan(console, plan, target=target)


def render_outputs(
    console: Console,
    stack: str,
    outputs: Mapping[str, Any],
    descriptions: Mapping[str, str | None] | None = None,
) -> None:
    """The outputs of a stack as a table (with a description column when any has one)."""
    if not outputs:
        return
    described = {n: d for n, d in (descriptions or {}).items() if d and n in outputs}
    table = Table(
        title=f"Outputs of {stack}",
        title_justify="left",
        show_edge=False,
        box=None,
        header_style="bold",
    )
    table.add_column("output")
    table.add_column("value")
    if described:
        table.add_column("description")
    for name in sorted(outputs):
        value = outputs[name]
        row = [name, escape("" if value is None else str(value))]
        if described:
            row.append(escape(described.get(name, "")))
        table.add_row(*row)
    console.print(table)


class ProgressView:
    """Prints one line per finished operation; a live bar at the bottom on a terminal."""

    _VERB = {
        "create": "created",
        "update": "updated",
        "replace": "replaced",
        "delete": "deleted",
        "delete old": "deleted old",
        "forget": "forgot",
    }

    def __init__(self, console: Console, total: int = 0, label: str = "deploying") -> None:
        self.console = console
        self.total = total
        self.label = label
        self.done = 0
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task: Any = None

    def start(self) -> None:
        """Show the live bar (on a terminal, when there is work); lines print either way."""
        if self.console.is_terminal and self.total:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn(f"[bold]{self.label}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)

    def stop(self) -> None:
        """Remove the live bar (safe to call when it never started)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if event.kind == "start":
            if event.verb == "delete old":
                # The old half of a replacement: the plan counted the replacement once.
                self.total += 1
                if self._progress is not None:
                    self._progress.update(self._task, total=self.total)
            if self._progress is not None:
                self._progress.update(
                    self._task, description=f"{event.verb} {event.stack}/{event.path}"
                )
            return
        if event.kind == "done":
            self.done += 1
            if self._progress is not None:
                self._progress.update(self._task, completed=self.done)
            verb = self._VERB.get(event.verb, event.verb)
            detail = f" {event.detail}" if event.detail else ""
            self.console.print(
                Text.assemble(
                    ("  ✓ ", "green"),
                    f"{event.stack}/{event.path} ",
                    (verb, "bold"),
                    (f"{detail} ({event.seconds:.1f}s)", "dim"),
                )
            )
        elif event.kind == "failed":
            self.console.print(
                Text.assemble(
                    ("  ✗ ", "red"),
                    f"{event.stack}/{event.path} {event.verb} failed: ",
                    (event.detail, "red"),
                )
            )
        elif event.kind == "note" and event.path:
            # Retries and waits inside one operation (eventual consistency, lost answers).
            self.console.print(
                Text.assemble(("  … ", "yellow"), f"{event.stack}/{event.path}: ", event.detail)
            )
        elif event.kind == "rollback-start" and not event.path:
            self.console.print(
                Text(
                    f"  {event.stack}: rolling back: undoing completed work in reverse order",
                    style="yellow bold",
                )
            )
        elif event.kind == "rollback-done":
            self.console.print(
                Text.assemble(
                    ("  ↺ ", "yellow"), f"{event.stack}/{event.path} ", (event.verb, "bold")
                )
            )
        elif event.kind == "rollback-failed":
            self.console.print(
                Text.assemble(
                    ("  ✗ ", "red"),
                    f"{event.stack}/{event.path} ",
                    f"{event.verb} failed: ",
                    (event.detail, "red"),
                )
            )
