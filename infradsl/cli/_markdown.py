"""``infradsl plan --format markdown``: a plan as a pull request comment (GitHub and
GitLab flavored Markdown): a summary table, each changed resource with its property diff,
destructive and permission-widening changes marked, and the check findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from infradsl.cli._diff import LONG, diff_lines, diff_notes, output_line, show
from infradsl.plan.change import Action, Plan, PropertyDiff, ResourceChange
from infradsl.plan.saved import plan_hash, plan_json

if TYPE_CHECKING:
    from infradsl.check.finding import Finding

__all__ = ["MARKER", "MAX_CHARS", "render_markdown"]

MARKER = "<!-- infradsl-plan -->"
"""The first line of every rendered plan: CI scripts find (and update) their comment by it."""

MAX_CHARS = 60_000
"""Property diffs are left out beyond this size (GitHub refuses comments over 65,536)."""

_WARN = "⚠️"
_DESTRUCTIVE = (Action.DELETE, Action.REPLACE)


def _cell(text: str) -> str:
    """Text safe inside a table cell: pipes escaped, on one line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code, with a fence longer than any backtick run inside."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _counts(plan: Plan) -> tuple[int, int, int, int]:
    summary = plan.summary()
    adopting = len(plan.adopting)
    return (
        summary["create"],
        summary["update"] - adopting,
        summary["replace"],
        summary["delete"] + summary["forget"],
    )


def _outputs_cell(plan: Plan) -> str:
    counts = plan.output_summary()
    words = (("create", "added"), ("update", "changed"), ("delete", "removed"))
    parts = [f"{counts[verb]} {word}" for verb, word in words if counts[verb]]
    return ", ".join(parts) or "-"


def _flags(plan: Plan) -> dict[str, list[str]]:
    """Path -> its marks: ``destructive`` for deletes and replacements, ``widens
    permissions`` for what `Plan.confirmation_reasons` names as widening."""
    flags: dict[str, list[str]] = {}
    reasons = plan.confirmation_reasons()
    for change in plan.changes:
        marks = []
        if change.action in _DESTRUCTIVE:
            marks.append("destructive")
        if any(r.startswith(f"{change.path} (") and "widens" in r for r in reasons):
            marks.append("widens permissions")
        if marks:
            flags[change.path] = marks
    return flags


def _diff_block(diff: PropertyDiff) -> list[str]:
    """One property's lines for a ```diff block: ``-``/``+`` at the start of a line so
    that GitHub colors them."""
    lines = [line.plain for line in diff_lines(diff)]
    old, new = show(diff.old), show(diff.new)
    if len(lines) == 1 and not diff.known_after_deploy and len(old) <= LONG and len(new) <= LONG:
        return [f"- {diff.name}: {old}", f"+ {diff.name}: {new}{diff_notes(diff)}"]
    out = []
    for line in lines:
        text = line.strip()
        if line.startswith("        ") and text[:2] in ("+ ", "- ", "~ "):
            out.append(f"{text[0]}   {text[2:]}")
        else:
            out.append(f"  {text}")
    return out


def _resource_section(change: ResourceChange, marks: Sequence[str]) -> list[str]:
    head = f"**{_code(f'{change.action.value} {change.path}')}** {_code(change.type)}: "
    head += change.action.verb
    if marks:
        head += "".join(f", {_WARN} **{m}**" for m in marks)
    if change.reasons:
        head += f" ({'; '.join(change.reasons)})"
    lines = [head, ""]
    body = [line for diff in change.diffs for line in _diff_block(diff)]
    if body:
        lines += ["```diff", *body, "```", ""]
    return lines


def _stack_section(plan: Plan, target: str) -> tuple[list[str], list[str]]:
    """The stack's table of changes, and the property diffs of each changed resource."""
    title = "destroy" if plan.destroy else "plan"
    table = [f"#### {_code(plan.stack)} ({plan.region}, {target}) {title}", ""]
    for note in plan.notes:
        table.append(f"> ! {note}")
    if plan.notes:
        table.append("")
    changes = [c for c in plan.changes if c.action is not Action.NOOP and not c.adoption]
    outputs = [o for o in plan.outputs if o.action is not Action.NOOP]
    if not changes and not outputs:
        table += ["No changes. The cloud matches the code.", ""]
        return table, []
    flags = _flags(plan)
    if changes:
        table += ["| | resource | type | action |", "|:-:|---|---|---|"]
        for c in changes:
            action = c.action.verb + "".join(f", {_WARN} **{m}**" for m in flags.get(c.path, []))
            table.append(
                f"| {_code(c.action.value)} | {_cell(_code(c.path))} | {_cell(_code(c.type))} "
                f"| {_cell(action)} |"
            )
        table.append("")
    details: list[str] = []
    for c in changes:
        if c.diffs:
            details += _resource_section(c, flags.get(c.path, []))
    if outputs:
        details += ["Outputs:", "", "```diff"]
        for o in outputs:
            text = output_line(o).plain.strip()
            sign, _, rest = text.partition(" ")
            details.append(f"{sign[0]} {rest.strip()}")
        details += ["```", ""]
    return table, details


def _findings_section(findings: Sequence[Finding]) -> list[str]:
    from infradsl.check import RULES

    open_findings = [f for f in findings if f.acknowledged is None]
    acknowledged = [f for f in findings if f.acknowledged is not None]
    lines = ["#### Check findings", ""]
    if not findings:
        return [*lines, f"No findings from the {len(RULES)} built-in rules.", ""]
    lines += ["| rule | severity | resource | finding |", "|---|---|---|---|"]
    for f in open_findings:
        title = RULES[f.rule_id].title if f.rule_id in RULES else ""
        text = f"{title}: {f.message}" if title else f.message
        lines.append(
            f"| {f.rule_id} | {_WARN} {f.severity.value} | {_cell(_code(f'{f.stack}/{f.path}'))} "
            f"| {_cell(text)} |"
        )
    for f in acknowledged:
        lines.append(
            f"| {f.rule_id} | acknowledged | {_cell(_code(f'{f.stack}/{f.path}'))} "
            f"| {_cell(f'{f.message} (reason: {f.acknowledged})')} |"
        )
    lines.append("")
    if open_findings:
        count = len(open_findings)
        lines += [
            f"{count} open finding{'s' if count != 1 else ''}: `infradsl check` fails until "
            "each is fixed or acknowledged with a reason.",
            "",
        ]
    return lines


def render_markdown(
    plans: Sequence[Plan],
    *,
    target: str,
    documents: Mapping[str, Mapping[str, Any]] | None = None,
    findings: Sequence[Finding] | None = None,
    max_chars: int = MAX_CHARS,
) -> str:
    """The plans as Markdown for a pull request comment.

    Args:
        plans: the plans, in deploy order.
        target: ``local`` or ``aws``.
        documents: the synthesized documents, to run the check rules on (when
            ``findings`` is not given).
        findings: the check findings to list.
        max_chars: beyond this size, property diffs are left out (the tables stay).
    """
    if findings is None and documents is not None:
        from infradsl.check import run_checks

        findings = run_checks(documents)
    totals = [sum(column) for column in zip(*(_counts(p) for p in plans), strict=True)] or [0] * 4
    changed = any(p.has_changes for p in plans)
    lines = [MARKER, f"### infradsl plan ({target})", ""]
    lines += [
        "| stack | region | create | update | replace | delete | outputs |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for plan in plans:
        create, update, replace, delete = _counts(plan)
        lines.append(
            f"| {_cell(_code(plan.stack))} | {plan.region} | {create} | {update} | {replace} "
            f"| {delete} | {_outputs_cell(plan)} |"
        )
    lines.append("")
    reasons = [r for p in plans for r in p.confirmation_reasons()]
    if not changed:
        lines += ["**No changes.** The cloud matches the code.", ""]
    else:
        lines += [
            f"**Plan:** {totals[0]} to create, {totals[1]} to update, {totals[2]} to replace, "
            f"{totals[3]} to delete.",
            "",
        ]
    if reasons:
        count = len(reasons)
        lines += [
            f"{_WARN} **{count} change{'s' if count != 1 else ''} to review**: destructive "
            "(delete, replace) or widening permissions or network access:",
            "",
            *(f"- {_cell(r)}" for r in reasons),
            "",
        ]
    tables: list[str] = []
    details: list[str] = []
    for plan in plans:
        table, detail = _stack_section(plan, target)
        tables += table
        if detail:
            details += [f"<details open><summary>Property diffs of {plan.stack}</summary>", ""]
            details += [*detail, "</details>", ""]
    findings_lines = _findings_section(findings) if findings is not None else []
    footer = [f"<sub>plan {plan_hash([plan_json(p) for p in plans])}</sub>", ""]
    text = "\n".join(lines + tables + details + findings_lines + footer)
    if len(text) > max_chars:
        left_out = [
            "_Property diffs left out: the plan is too long for a comment. See the job log "
            "or the saved plan file._",
            "",
        ]
        text = "\n".join(lines + tables + left_out + findings_lines + footer)
    return text
