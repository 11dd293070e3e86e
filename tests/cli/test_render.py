"""Plan output rendered at a fixed width, compared with golden text."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from infradsl.cli.render import render_plan
from infradsl.plan.change import Action, Plan, PropertyDiff, ResourceChange

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plan"


def sample_plan() -> Plan:
    return Plan(
        stack="webapp",
        region="us-east-1",
        notes=("the local cloud was restarted since the last deploy",),
        changes=(
            ResourceChange("Net/Vpc", "aws.ec2.Vpc", Action.NOOP),
            ResourceChange("Logs", "aws.s3.Bucket", Action.CREATE),
            ResourceChange(
                "WebSg",
                "aws.ec2.SecurityGroup",
                Action.UPDATE,
                (PropertyDiff("description", "web", "web tier", drift=True),),
                ("'description' was changed outside infradsl",),
            ),
            ResourceChange(
                "Web",
                "aws.ec2.Instance",
                Action.REPLACE,
                (
                    PropertyDiff("image", "ami-12345678", "ami-87654321", forces_replacement=True),
                    PropertyDiff(
                        "subnet",
                        {"ref": "Net/A.id"},
                        {"ref": "Net/A.id"},
                        forces_replacement=True,
                        known_after_deploy=True,
                    ),
                ),
                ("'image' forces replacement",),
            ),
            ResourceChange("Old", "aws.ec2.ElasticIp", Action.DELETE),
            ResourceChange(
                "Kept",
                "aws.s3.Bucket",
                Action.FORGET,
                reasons=("retain_on_delete: left in the cloud",),
            ),
        ),
    )


def render(plan: Plan) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None, emoji=False)
    render_plan(console, plan, target="local")
    return buffer.getvalue()


def test_a_plan_renders_symbols_diffs_and_reasons(update_golden: bool) -> None:
    golden = GOLDEN / "mixed.txt"
    text = render(sample_plan())
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text()


def test_a_plan_without_changes_says_so() -> None:
    plan = Plan("webapp", "us-east-1", (ResourceChange("Vpc", "aws.ec2.Vpc", Action.NOOP),))
    assert render(plan).endswith("  No changes. The cloud matches the code.\n")
