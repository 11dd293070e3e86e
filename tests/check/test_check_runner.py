"""run_checks: acknowledgements, unknown rule ids, ordering, custom rules, the public surface."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import infradsl.check
from infradsl import App, Construct, Stack
from infradsl.aws import ec2, s3
from infradsl.check import (
    RULES,
    Finding,
    Rule,
    Severity,
    run_checks,
    unknown_acknowledgements,
)
from infradsl.synth import synthesize

ROOT = Path(__file__).resolve().parents[2]


class Bastion(Construct):
    """A group admitting SSH from anywhere, plus an instance."""

    def __init__(self, scope: Construct, id: str, vpc: ec2.Vpc, subnet: ec2.Subnet) -> None:
        super().__init__(scope, id)
        self.sg = ec2.SecurityGroup(self, "Sg", vpc=vpc,
                                    ingress=[ec2.Rule.tcp(22, source="0.0.0.0/0")])
        ec2.Instance(self, "Host", image="ami-12345678", instance_type="t3.micro",
                     subnet=subnet, security_groups=[self.sg], require_imdsv2=False)


def bastion_app(name: str = "demo") -> tuple[App, Stack, Bastion]:
    app = App()
    stack = Stack(app, name, region="us-east-1")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
    return app, stack, Bastion(stack, "Bastion", vpc, subnet)


def summary(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.path, f.rule_id, f.acknowledged) for f in findings]


def test_an_acknowledged_finding_is_returned_with_the_reason() -> None:
    app, _, bastion = bastion_app()
    bastion.sg.node.acknowledge("SG001", reason="the bastion exists to accept SSH")
    assert summary(run_checks(synthesize(app))) == [
        ("Bastion/Host", "EC2001", None),
        ("Bastion/Sg", "SG001", "the bastion exists to accept SSH"),
    ]


def test_an_acknowledgement_is_inherited_by_everything_under_the_construct() -> None:
    app, _, bastion = bastion_app()
    bastion.node.acknowledge("EC2001", reason="legacy AMI without IMDSv2 support")
    assert summary(run_checks(synthesize(app))) == [
        ("Bastion/Host", "EC2001", "legacy AMI without IMDSv2 support"),
        ("Bastion/Sg", "SG001", None),
    ]


def test_an_acknowledgement_of_another_rule_does_not_mark_a_finding() -> None:
    app, _, bastion = bastion_app()
    bastion.sg.node.acknowledge("SG002", reason="reviewed by the security team")
    assert [f.acknowledged for f in run_checks(synthesize(app))] == [None, None]


def test_an_unknown_acknowledgement_gets_a_did_you_mean_suggestion() -> None:
    app, _, bastion = bastion_app()
    bastion.sg.node.acknowledge("SG01", reason="the bastion exists to accept SSH")
    bastion.sg.node.acknowledge("ec2001", reason="legacy AMI without IMDSv2 support")
    bastion.sg.node.acknowledge("NOPE", reason="nothing close to a real rule id")
    bastion.sg.node.acknowledge("SEC001", reason="a known rule is not reported")
    assert unknown_acknowledgements(synthesize(app)) == [
        ("demo", "Bastion/Sg", "NOPE", None),
        ("demo", "Bastion/Sg", "SG01", "SG001"),
        ("demo", "Bastion/Sg", "ec2001", "EC2001"),
    ]


def test_an_inherited_unknown_acknowledgement_is_reported_once_where_it_was_made() -> None:
    app, stack, bastion = bastion_app()
    bastion.node.acknowledge("SG0001", reason="the bastion exists to accept SSH")
    stack.node.acknowledge("EC2O01", reason="a typo made on the whole stack")
    assert unknown_acknowledgements(synthesize(app)) == [
        ("demo", "", "EC2O01", "EC2001"),
        ("demo", "Bastion", "SG0001", "SG001"),
    ]


def test_known_acknowledgements_are_not_reported() -> None:
    app, stack, _ = bastion_app()
    stack.node.acknowledge("SG001", reason="the bastion exists to accept SSH")
    assert unknown_acknowledgements(synthesize(app)) == []


def build_two_stacks(reverse: bool) -> dict[str, dict[str, Any]]:
    app = App()
    names = ["beta", "alpha"] if reverse else ["alpha", "beta"]
    for name in names:
        stack = Stack(app, name)
        ids = ["Zed", "Able"] if reverse else ["Able", "Zed"]
        for id in ids:
            bucket = s3.Bucket(stack, id, block_public_access=False,
                               tags={"note": "token=f00ba4r"})
            if name == "beta" and id == "Zed":
                bucket.node.acknowledge("S3001", reason="a public website bucket")
    return synthesize(app)


def test_findings_are_sorted_by_stack_path_rule_and_message_whatever_the_build_order() -> None:
    first = run_checks(build_two_stacks(reverse=False))
    second = run_checks(build_two_stacks(reverse=True))
    assert first == second
    assert [(f.stack, f.path, f.rule_id) for f in first] == [
        ("alpha", "Able", "S3001"), ("alpha", "Able", "SEC001"),
        ("alpha", "Zed", "S3001"), ("alpha", "Zed", "SEC001"),
        ("beta", "Able", "S3001"), ("beta", "Able", "SEC001"),
        ("beta", "Zed", "S3001"), ("beta", "Zed", "SEC001"),
    ]
    assert first[6].acknowledged == "a public website bucket"


def test_run_checks_applies_custom_rules_only_to_their_types() -> None:
    def no_versioning(entry: Mapping[str, Any]) -> Iterator[str]:
        if not entry["properties"].get("versioned"):
            yield "versioned is false"

    rule = Rule(id="ORG001", title="Buckets are versioned", severity=Severity.LOW,
                description="Keep history.", fix="versioned=True", types=("aws.s3.Bucket",),
                check=no_versioning)
    app = App()
    stack = Stack(app, "demo")
    s3.Bucket(stack, "Logs")
    ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    findings = run_checks(synthesize(app), rules=[rule])
    assert [f.to_json() for f in findings] == [
        {"rule_id": "ORG001", "severity": "low", "stack": "demo", "path": "Logs",
         "message": "versioned is false", "acknowledged": None}
    ]
    assert unknown_acknowledgements(synthesize(app), rules=[rule]) == []


def test_a_stack_check_reports_on_the_resource_it_names_with_its_acknowledgement() -> None:
    def two_buckets(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        buckets = sorted(p for p, e in document["resources"].items()
                         if e["type"] == "aws.s3.Bucket")
        if len(buckets) > 1:
            yield buckets[0], f"one of {len(buckets)} buckets"
            yield "Vpc", "not a bucket: dropped"

    rule = Rule(id="ORG002", title="One bucket per stack", severity=Severity.LOW,
                description="Keep it simple.", fix="Merge them.", types=("aws.s3.Bucket",),
                check_stack=two_buckets)
    app = App()
    stack = Stack(app, "demo")
    logs = s3.Bucket(stack, "Logs")
    s3.Bucket(stack, "Site")
    ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    logs.node.acknowledge("ORG002", reason="logs are kept apart on purpose")
    assert [f.to_json() for f in run_checks(synthesize(app), rules=[rule])] == [
        {"rule_id": "ORG002", "severity": "low", "stack": "demo", "path": "Logs",
         "message": "one of 2 buckets", "acknowledged": "logs are kept apart on purpose"}
    ]


def test_a_rule_without_a_check_or_a_stack_check_is_refused() -> None:
    with pytest.raises(TypeError, match="rule 'ORG003' needs a 'check', a 'check_stack' or a "
                                        "'check_app' function"):
        Rule(id="ORG003", title="Nothing", severity=Severity.LOW, description="Nothing.",
             fix="Nothing.")


def test_a_combined_security_group_finding_is_acknowledged_on_the_group() -> None:
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(22, source="0.0.0.0/1")])
    ec2.SecurityGroupRule(stack, "Half", group=sg, rule=ec2.Rule.tcp(22, source="128.0.0.0/1"))
    sg.node.acknowledge("SG001", reason="the bastion exists to accept SSH")
    assert summary(run_checks(synthesize(app))) == [
        ("Sg", "SG001", "the bastion exists to accept SSH"),
    ]


def test_the_shipped_example_app_passes_every_rule() -> None:
    example = runpy.run_path(str(ROOT / "examples" / "webapp" / "app.py"))
    documents = synthesize(example["app"])
    assert run_checks(documents) == []
    assert unknown_acknowledgements(documents) == []


def test_severities_are_ordered_and_serialize_as_lowercase_names() -> None:
    assert [s.value for s in Severity] == ["low", "medium", "high", "critical"]
    assert Severity.CRITICAL.at_least(Severity.HIGH)
    assert not Severity.MEDIUM.at_least(Severity.HIGH)
    assert RULES["SEC001"].severity.rank == 3


def test_the_public_surface_is_curated() -> None:
    assert sorted(infradsl.check.__all__) == sorted([
        "AppCheck", "Check", "Finding", "OUTPUT_TYPE", "RULES", "Rule", "Severity", "StackCheck",
        "acknowledgement_problems", "run_checks", "unknown_acknowledgements",
    ])
    assert infradsl.check.__doc__ and infradsl.check.__doc__.splitlines()[0].endswith(".")


def test_running_checks_imports_no_boto3_rich_or_click() -> None:
    script = (
        "import json, sys\n"
        "from infradsl import App, Stack\n"
        "from infradsl.aws import s3\n"
        "from infradsl.check import run_checks\n"
        "from infradsl.synth import synthesize\n"
        "app = App()\n"
        "s3.Bucket(Stack(app, 'demo'), 'Logs', block_public_access=False)\n"
        "assert run_checks(synthesize(app))\n"
        "heavy = {'boto3', 'botocore', 'rich', 'click', 'moto'}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
