"""What a rule found: a `Finding` and its `Severity`."""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["Finding", "Severity"]


class Severity(enum.Enum):
    """How bad a finding is; the value is the lowercase name used in JSON output.

    Members compare by `rank` through `at_least`, so a caller can fail on ``HIGH`` and up.

    Example:
        >>> Severity.HIGH.value
        'high'
        >>> Severity.CRITICAL.at_least(Severity.HIGH)
        True
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``LOW`` up to 3 for ``CRITICAL``."""
        return list(Severity).index(self)

    def at_least(self, other: Severity) -> bool:
        """Whether this severity is ``other`` or worse."""
        return self.rank >= other.rank


@attrs.frozen(kw_only=True)
class Finding:
    """One rule broken by one resource (or output) of one stack.

    Attributes:
        rule_id: the rule, e.g. ``"SG001"``.
        severity: the rule's severity.
        stack: the stack name.
        path: the logical id of the resource or output inside the stack.
        message: what exactly is wrong, e.g. ``"ingress[0] opens tcp 22 to 0.0.0.0/0"``;
            never contains a secret value.
        acknowledged: the user's reason when the rule is acknowledged on this resource,
            else ``None``.

    Example:
        >>> f = Finding(rule_id="EC2001", severity=Severity.MEDIUM, stack="web", path="Web",
        ...             message="require_imdsv2 is false")
        >>> f.to_json()["severity"]
        'medium'
    """

    rule_id: str
    severity: Severity
    stack: str
    path: str
    message: str
    acknowledged: str | None = None

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        """The deterministic order of findings: stack, path, rule id, message."""
        return (self.stack, self.path, self.rule_id, self.message)

    def to_json(self) -> dict[str, Any]:
        """Plain, JSON-ready data (``severity`` as its lowercase value)."""
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "stack": self.stack,
            "path": self.path,
            "message": self.message,
            "acknowledged": self.acknowledged,
        }
