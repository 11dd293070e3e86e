"""Plan output rendered at a fixed width, compared with golden text."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

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


def planned_changes() -> Plan:
    """A real plan (planner, not hand-made): a rule added to a group, tags changed by hand
    on the VPC, protect removed, a multi-line user data change, and outputs added, changed
    and removed."""
    from infradsl import App, Output, Stack
    from infradsl.aws import ec2
    from infradsl.plan.planner import plan_stack
    from infradsl.plan.values import resolve
    from infradsl.providers.handler import TOKEN_TAG, ReadResult, system_tags
    from infradsl.state.model import ResourceState, StackState
    from infradsl.synth import synthesize

    def document(new: bool) -> dict[str, Any]:
        app = App()
        stack = Stack(app, "webapp")
        vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16", tags={"team": "web"}, protect=not new)
        rules = [ec2.Rule.tcp(443, source="0.0.0.0/0")]
        if new:
            rules.append(ec2.Rule.tcp(80, source="0.0.0.0/0"))
        rules.append(ec2.Rule.tcp(22, source="10.0.0.0/8", description="admin"))
        sg = ec2.SecurityGroup(stack, "WebSg", vpc=vpc, description="web tier", ingress=rules)
        subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
        port = 8080 if new else 80
        web = ec2.Instance(
            stack,
            "Web",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=subnet,
            security_groups=[sg],
            user_data=f"#!/bin/sh\nexport PORT={port}\nexec /srv/web\n",
        )
        Output(stack, "VpcId", vpc.id)
        if new:
            Output(stack, "Url", f"http://{web.public_ip}:{port}/", description="the web site")
            Output(stack, "Region", "us-east-1")
        else:
            Output(stack, "Region", "eu-west-1")
            Output(stack, "Old", "gone soon")
        return synthesize(app)["webapp"]

    old = document(new=False)

    def lookup(stack: str | None, path: str, name: str) -> Any:
        return {"id": f"{path.lower()}-0123"}.get(name, f"{path.lower()}.{name}")

    resources = {
        path: ResourceState(
            entry["type"],
            f"{path.lower()}-0123",
            entry["properties"],
            resolve(entry["properties"], lookup),
            {"id": f"{path.lower()}-0123", "public_ip": "203.0.113.7"},
            tuple(entry["depends_on"]),
            entry["options"],
        )
        for path, entry in old["resources"].items()
    }
    state = StackState(
        "webapp",
        "local",
        "us-east-1",
        7,
        resources=resources,
        outputs={"VpcId": "vpc-0123", "Region": "eu-west-1", "Old": "gone soon"},
    )
    live: dict[str, ReadResult | None] = {}
    for path, res in resources.items():
        tags = {**dict(res.properties.get("tags") or {}), **system_tags("webapp", path)}
        live[path] = ReadResult({}, res.attributes, {**tags, TOKEN_TAG: "f00d"})
    vpc_tags = dict(live["Vpc"].tags or {})  # type: ignore[union-attr]
    del vpc_tags["team"]
    vpc_tags["owner"] = "bob"
    live["Vpc"] = ReadResult({}, resources["Vpc"].attributes, vpc_tags)
    return plan_stack(document(new=True), state, live)


def test_a_plan_shows_a_rule_added_tag_drift_and_output_changes_readably(
    update_golden: bool,
) -> None:
    golden = GOLDEN / "rules_tags_outputs.txt"
    text = render(planned_changes())
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text()
    assert "        + tcp 80 from 0.0.0.0/0\n" in text


def lines(diff: PropertyDiff) -> list[str]:
    from infradsl.cli._diff import diff_lines

    return [line.plain for line in diff_lines(diff)]


def test_list_elements_are_compared_ignoring_order() -> None:
    rule = {"protocol": "all", "from_port": 0, "to_port": 65535, "source": {"ref": "Lb.id"}}
    assert lines(PropertyDiff("egress", [], [rule])) == [
        "      egress:",
        "        + all traffic to ${Lb.id}",
    ]
    assert lines(PropertyDiff("subnets", ["a", "b"], ["b", "a"])) == [
        "      subnets:",
        "        (same elements, new order)",
    ]
    route = {"destination": "0.0.0.0/0", "gateway": {"ref": "Igw.id"}}
    assert lines(PropertyDiff("routes", [route], [])) == [
        "      routes:",
        "        - destination=0.0.0.0/0 gateway=${Igw.id}",
    ]


def test_maps_are_compared_key_by_key_and_long_values_get_their_own_lines() -> None:
    assert lines(PropertyDiff("tags", {"a": "1", "b": "2"}, {"a": "3", "c": "4"})) == [
        "      tags:",
        '        ~ a: "1" -> "3"',
        '        - b = "2"',
        '        + c = "4"',
    ]
    long = "x" * 90
    assert lines(PropertyDiff("description", "short", long, forces_replacement=True)) == [
        "      description:  (forces replacement)",
        '        - "short"',
        f'        + "{long}"',
    ]


def test_a_string_with_references_reads_as_text() -> None:
    old = {"join": ["#!/bin/sh\nexport DB=", {"ref": "Db.private_ip"}, "\nrun\n"]}
    new = {"join": ["#!/bin/sh\nexport DB=", {"ref": "Db.private_ip"}, "\nrun --fast\n"]}
    assert lines(PropertyDiff("user_data", old, new)) == [
        "      user_data:",
        "        - run",
        "        + run --fast",
    ]
    assert lines(PropertyDiff("name", None, {"join": ["web-", {"ref": "Id.id"}]})) == [
        '      name: (none) -> "web-${Id.id}"'
    ]
