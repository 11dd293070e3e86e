"""Policy checks: built-in security rules applied to synthesized stack documents.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import ec2
    >>> from infradsl.check import run_checks
    >>> from infradsl.synth import synthesize
    >>> app = App()
    >>> stack = Stack(app, "demo", region="us-east-1")
    >>> vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    >>> sg = ec2.SecurityGroup(stack, "Ssh", vpc=vpc,
    ...                        ingress=[ec2.Rule.tcp(22, source="0.0.0.0/0")])
    >>> [(f.rule_id, f.message) for f in run_checks(synthesize(app))]
    [('SG001', 'ingress[0] opens tcp 22 to 0.0.0.0/0')]
"""

from infradsl.check.finding import Finding, Severity
from infradsl.check.rule import AppCheck, Check, Rule, StackCheck
from infradsl.check.rules import RULES
from infradsl.check.runner import (
    OUTPUT_TYPE,
    acknowledgement_problems,
    run_checks,
    unknown_acknowledgements,
)

__all__ = [
    "OUTPUT_TYPE",
    "RULES",
    "AppCheck",
    "Check",
    "Finding",
    "Rule",
    "Severity",
    "StackCheck",
    "acknowledgement_problems",
    "run_checks",
    "unknown_acknowledgements",
]
