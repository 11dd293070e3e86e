"""IAM001 expands action and resource wildcards and knows the dangerous managed policies."""

from __future__ import annotations

from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import iam
from infradsl.check import run_checks
from infradsl.synth import synthesize


def found(documents: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.path, f.message) for f in run_checks(documents)]


def raw_policy(actions: list[str], resources: list[Any], effect: str = "Allow") -> dict[str, Any]:
    """A hand-written policy, for actions the DSL's validation refuses (``i*``)."""
    statement = {"actions": actions, "resources": resources, "effect": effect}
    entry = {"type": "aws.iam.Policy", "properties": {"statements": [statement]}, "options": {}}
    return {"demo": {"stack": "demo", "resources": {"P": entry}, "outputs": {}}}


def role_with(*managed: Any) -> dict[str, Any]:
    entry = {"type": "aws.iam.Role", "options": {},
             "properties": {"assumed_by": "ec2.amazonaws.com", "managed_policies": list(managed)}}
    return {"demo": {"stack": "demo", "resources": {"Role": entry}, "outputs": {}}}


EVERY = ", which is every action on every resource"
ANY_PERMISSION = ": IAM actions that let its holder grant itself any permission"
PASS_ANY_ROLE = (
    "which lets its holder pass any role, an administrator's too, to a service it controls"
)


# Every action on every resource -----------------------------------------------------------

@pytest.mark.parametrize(
    ("action", "resource", "message"),
    [
        ("*", "arn:*", f"allows action '*' on resource 'arn:*'{EVERY}"),
        ("*", "arn:aws:*:*:*:*", f"allows action '*' on resource 'arn:aws:*:*:*:*'{EVERY}"),
        ("*:*", "arn:*:*:*:*:*", f"allows action '*:*' on resource 'arn:*:*:*:*:*'{EVERY}"),
        ("*?*", "*", f"allows action '*?*' on resource '*'{EVERY}"),
        ("**:**", "*", f"allows action '**:**' on resource '*'{EVERY}"),
    ],
    ids=["arn:*", "arn:aws:*:*:*:*", "six wildcard segments", "any one character", "doubled"],
)
def test_wildcards_that_match_every_action_and_resource_are_found(
    action: str, resource: str, message: str
) -> None:
    assert found(raw_policy([action], [resource])) == [("IAM001", "P", f"statements[0] {message}")]


# Privilege escalation through IAM ---------------------------------------------------------

def test_iam_star_on_every_resource_is_found_with_the_escalations_it_includes() -> None:
    app = App()
    role = iam.Role(Stack(app, "demo"), "Role", assumed_by="ec2.amazonaws.com")
    role.add_to_policy(iam.Statement(actions=["iam:*"], resources=["*"]))
    assert found(synthesize(app)) == [
        ("IAM001", "Role/DefaultPolicy",
         "statements[0] allows action 'iam:*' on resource '*', which includes "
         f"iam:AddUserToGroup, iam:AttachGroupPolicy, iam:AttachRolePolicy and 11 more"
         f"{ANY_PERMISSION}")
    ]


@pytest.mark.parametrize(
    ("action", "resource", "message"),
    [
        ("iam:PassRole", "*", f"allows action 'iam:PassRole' on resource '*', {PASS_ANY_ROLE}"),
        ("iam:passrole", "arn:*", f"allows action 'iam:passrole' on resource 'arn:*', "
                                  f"{PASS_ANY_ROLE}"),
        ("iam:PassRole", "arn:aws:iam::*:role/*",
         f"allows action 'iam:PassRole' on resource 'arn:aws:iam::*:role/*', {PASS_ANY_ROLE}"),
        ("i*", "*", "allows action 'i*' on resource '*', which includes iam:AddUserToGroup, "
                    f"iam:AttachGroupPolicy, iam:AttachRolePolicy and 11 more{ANY_PERMISSION}"),
        ("ia*:*Role*", "*", "allows action 'ia*:*Role*' on resource '*', which includes "
                            "iam:AttachRolePolicy, iam:PassRole, iam:PutRolePolicy and 1 more"
                            f"{ANY_PERMISSION}"),
        ("iam:Put*Policy", "*", "allows action 'iam:Put*Policy' on resource '*', which includes "
                                "iam:PutGroupPolicy, iam:PutRolePolicy and iam:PutUserPolicy"
                                f"{ANY_PERMISSION}"),
        ("*", "arn:aws:iam::*:user/*", "allows action '*' on resource 'arn:aws:iam::*:user/*', "
                                       "which includes iam:AttachUserPolicy, iam:CreateAccessKey, "
                                       f"iam:CreateLoginProfile and 2 more{ANY_PERMISSION}"),
    ],
    ids=["PassRole", "lowercase on arn:*", "every role", "i*", "ia*:*Role*", "Put*Policy",
         "everything on every user"],
)
def test_iam_actions_that_escalate_privileges_on_every_resource_are_found(
    action: str, resource: str, message: str
) -> None:
    assert found(raw_policy([action], [resource])) == [("IAM001", "P", f"statements[0] {message}")]


@pytest.mark.parametrize(
    ("actions", "resources", "effect"),
    [
        (["iam:PassRole"], ["arn:aws:iam::123456789012:role/app-*"], "Allow"),
        (["iam:Get*", "iam:List*"], ["*"], "Allow"),
        (["s3:*"], ["*"], "Allow"),
        (["*"], ["arn:aws:s3:::*"], "Allow"),
        (["iam:*"], ["*"], "Deny"),
        (["iam:PassRole"], [{"ref": "Web.arn"}], "Allow"),
        (["iam:PassRole"], [{"join": ["arn:aws:iam::", {"ref": "Acct.id"}, ":role/*"]}], "Allow"),
    ],
    ids=["some roles", "read-only IAM", "one service", "one service's resources", "deny",
         "a reference", "a join"],
)
def test_grants_short_of_admin_or_escalation_are_not_found(
    actions: list[str], resources: list[Any], effect: str
) -> None:
    assert found(raw_policy(actions, resources, effect)) == []


# Managed policies -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("arn:aws:iam::aws:policy/IAMFullAccess", "attaches IAMFullAccess (every IAM action, so "
                                                  "its holder can grant itself any permission)"),
        ("arn:aws:iam::aws:policy/PowerUserAccess", "attaches PowerUserAccess (every action "
                                                    "outside IAM and Organizations)"),
        ("arn:aws-us-gov:iam::aws:policy/AdministratorAccess", "attaches AdministratorAccess"),
        ("arn:aws:iam::123456789012:policy/platform/AdministratorAccess",
         "attaches AdministratorAccess"),
        ({"join": ["arn:", {"ref": "Env.partition"}, ":iam::aws:policy/AdministratorAccess"]},
         "attaches AdministratorAccess"),
    ],
    ids=["IAMFullAccess", "PowerUserAccess", "another partition", "under a path", "a join"],
)
def test_dangerous_managed_policies_are_found_by_name(arn: Any, message: str) -> None:
    documents = role_with("arn:aws:iam::aws:policy/ReadOnlyAccess", arn)
    assert found(documents) == [("IAM001", "Role", f"managed_policies[1] {message}")]


def test_a_dangerous_managed_policy_attached_through_the_dsl_is_found() -> None:
    app = App()
    iam.Role(Stack(app, "demo"), "Role", assumed_by="ec2.amazonaws.com",
             managed_policies=["arn:aws:iam::aws:policy/IAMFullAccess"])
    assert [f.message for f in run_checks(synthesize(app))] == [
        "managed_policies[0] attaches IAMFullAccess (every IAM action, so its holder can grant "
        "itself any permission)"
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:aws:iam::aws:policy/AdministratorAccessReadOnly",
        {"ref": "Admin.arn"},
    ],
    ids=["job function", "SSM", "a longer name", "a reference"],
)
def test_other_managed_policies_are_not_found(arn: Any) -> None:
    assert found(role_with(arn)) == []
