"""The lines of a plan that show looked-up resources (``<=``): found, never changed."""

from __future__ import annotations

import json

from rich.text import Text

from infradsl.plan.change import Plan
from infradsl.plan.lookup import describe_query

__all__ = ["SYMBOL", "lookup_lines"]

SYMBOL = "<="
# Values every looked-up resource has and the first line already shows.
_SHOWN_ELSEWHERE = frozenset({"id", "name", "tags"})


def lookup_lines(plan: Plan) -> list[Text]:
    """Per lookup: ``<=  path  type  physical-id  (looked up by ...)``, then its scalar
    values (``cidr_block="10.0.0.0/16"``). Lists and dicts are in ``plan --json``."""
    lines: list[Text] = []
    for found in plan.lookups:
        head = Text("  ")
        head.append(f"{SYMBOL:<3} ", style="bold cyan")
        head.append(f"{found.name}  ", style="cyan")
        head.append(found.type, style="dim")
        head.append(f"  {found.physical_id}")
        head.append(f"  (looked up by {describe_query(found.query)})", style="italic")
        lines.append(head)
        values = [
            f"{name}={json.dumps(value)}"
            for name, value in sorted(found.values.items())
            if name not in _SHOWN_ELSEWHERE and isinstance(value, (str, int, float, bool))
        ]
        if values:
            lines.append(Text(f"      {', '.join(values)}", style="dim"))
    return lines
