"""Planning: compare the desired documents with state (and the live cloud) into changes."""

from infradsl.plan.change import (
    Action,
    OutputChange,
    Plan,
    PlanError,
    PropertyDiff,
    ResourceChange,
)
from infradsl.plan.planner import plan_stack

__all__ = [
    "Action",
    "OutputChange",
    "Plan",
    "PlanError",
    "PropertyDiff",
    "ResourceChange",
    "plan_stack",
]
