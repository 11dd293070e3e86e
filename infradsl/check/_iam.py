"""Which IAM grants amount to administrator access (rule IAM001).

A statement is read the way IAM reads it: ``*`` and ``?`` in an action match any run of
characters or any one character, without regard to case (``i*``, ``ia*:*Role*``); in a
resource they match the same way, case-sensitively (``arn:*``, ``arn:aws:*:*:*:*``).
A pattern counts as "every action" or "every resource" when it matches a spread of real
actions and ARNs of different services, regions and accounts; it counts as granting a
privilege escalation when it matches one of the IAM actions that let a principal grant
itself more permissions, on every resource of the kind that action acts on. Attached
managed policies are looked up by name in a small table of known dangerous ones.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["admin_grants", "dangerous_managed_policies"]

# Real actions of unrelated services: a single pattern matching them all matches every
# action a principal could call.
_EVERY_ACTION = (
    "iam:PassRole",
    "s3:GetObject",
    "ec2:RunInstances",
    "kms:Decrypt",
    "sts:AssumeRole",
    "lambda:InvokeFunction",
    "dynamodb:DeleteTable",
    "organizations:LeaveOrganization",
)

# ARNs of each kind an escalation acts on, in two accounts and with and without a path.
_ARNS = {
    "role": ("arn:aws:iam::111122223333:role/Admin", "arn:aws:iam::444455556666:role/ops/Deploy"),
    "user": ("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::444455556666:user/ops/bob"),
    "group": ("arn:aws:iam::111122223333:group/Admins", "arn:aws:iam::444455556666:group/ops/Dev"),
    "policy": ("arn:aws:iam::111122223333:policy/App", "arn:aws:iam::444455556666:policy/ops/Ci"),
}
_EVERY_RESOURCE = (
    *(arn for arns in _ARNS.values() for arn in arns),
    "arn:aws:s3:::any-bucket/any/key",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0",
    "arn:aws:secretsmanager:eu-west-1:444455556666:secret:prod/db-AbCdEf",
    "arn:aws:kms:ap-southeast-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:lambda:us-west-2:444455556666:function:deploy:1",
)

_GRANT_ANY = "grant itself any permission"
# IAM actions that let whoever holds them gain more permissions: action -> (the kind of
# resource it acts on, what it lets the holder do).
_ESCALATIONS: Mapping[str, tuple[str, str]] = {
    "iam:AddUserToGroup": ("group", "join any group, an administrators' group too"),
    "iam:AttachGroupPolicy": ("group", "attach any policy, AdministratorAccess too"),
    "iam:AttachRolePolicy": ("role", "attach any policy, AdministratorAccess too"),
    "iam:AttachUserPolicy": ("user", "attach any policy, AdministratorAccess too"),
    "iam:CreateAccessKey": ("user", "create access keys for any user"),
    "iam:CreateLoginProfile": ("user", "set a console password for any user"),
    "iam:CreatePolicyVersion": ("policy", "rewrite any managed policy"),
    "iam:PassRole": ("role", "pass any role, an administrator's too, to a service it controls"),
    "iam:PutGroupPolicy": ("group", "write any inline policy"),
    "iam:PutRolePolicy": ("role", "write any inline policy"),
    "iam:PutUserPolicy": ("user", "write any inline policy"),
    "iam:SetDefaultPolicyVersion": ("policy", "switch any managed policy to another version"),
    "iam:UpdateAssumeRolePolicy": ("role", "let itself assume any role"),
    "iam:UpdateLoginProfile": ("user", "change the console password of any user"),
}

# Managed policies known to grant administrator access or a way to it, by name (the
# last part of the ARN, after any path such as job-function/): name -> what it allows.
_MANAGED = {
    "AdministratorAccess": "",
    "IAMFullAccess": f"every IAM action, so its holder can {_GRANT_ANY}",
    "PowerUserAccess": "every action outside IAM and Organizations",
}
_MANAGED_BY_LOWER = {name.lower(): name for name in _MANAGED}
_POLICY_NAME = re.compile(r"^arn:[^:]*:iam::[^:]*:policy/(?:[^/]*/)*(?P<name>[^/]+)$")
# Stands in for a reference inside a joined string: it matches no pattern or name.
_REF = "\x00"


def dangerous_managed_policies(managed: Any) -> Iterator[str]:
    """Yield a message per known dangerous policy in a role's ``managed_policies``."""
    for index, arn in enumerate(managed if isinstance(managed, list) else []):
        match = _POLICY_NAME.match(_text(arn) or "")
        name = _MANAGED_BY_LOWER.get(match.group("name").lower()) if match else None
        if name is not None:
            allows = _MANAGED[name]
            yield f"managed_policies[{index}] attaches {name}" + (f" ({allows})" if allows else "")


def admin_grants(statements: Any) -> Iterator[str]:
    """Yield a message per action of an Allow statement that amounts to admin access."""
    for index, statement in enumerate(statements if isinstance(statements, list) else []):
        if not isinstance(statement, Mapping):
            continue
        if str(statement.get("effect", "Allow")).strip().lower() == "deny":
            continue
        resources = _texts(statement.get("resources"))
        every = next((r for r in resources if _covers_resources(r, _EVERY_RESOURCE)), None)
        for action in _texts(statement.get("actions")):
            where = f"statements[{index}] allows action {action!r}"
            if every is not None and _covers_actions(action, _EVERY_ACTION):
                obvious = action in ("*", "*:*") and every == "*"
                yield f"{where} on resource {every!r}" + (
                    "" if obvious else ", which is every action on every resource"
                )
                continue
            escalation = _escalation(action, resources)
            if escalation is not None:
                yield f"{where} {escalation}"


def _escalation(action: str, resources: Sequence[str]) -> str | None:
    """How ``action`` on ``resources`` escalates privileges, or ``None``."""
    best: tuple[str, list[str]] | None = None
    for resource in resources:
        granted = [
            name
            for name, (kind, _) in _ESCALATIONS.items()
            if _matches(action, name, ignore_case=True) and _covers_resources(resource, _ARNS[kind])
        ]
        if granted and (best is None or len(granted) > len(best[1])):
            best = (resource, granted)
    if best is None:
        return None
    resource, granted = best
    if len(granted) == 1:
        return f"on resource {resource!r}, which lets its holder {_ESCALATIONS[granted[0]][1]}"
    more = f" and {len(granted) - 3} more" if len(granted) > 3 else ""
    listed = ", ".join(granted[:3]) if more else ", ".join(granted[:-1]) + " and " + granted[-1]
    return (
        f"on resource {resource!r}, which includes {listed}{more}: IAM actions that let its "
        f"holder {_GRANT_ANY}"
    )


def _covers_actions(pattern: str, actions: Sequence[str]) -> bool:
    return all(_matches(pattern, action, ignore_case=True) for action in actions)


def _covers_resources(pattern: str, arns: Sequence[str]) -> bool:
    return all(_matches(pattern, arn, ignore_case=False) for arn in arns)


def _matches(pattern: str, text: str, *, ignore_case: bool) -> bool:
    return _compile(pattern, ignore_case).fullmatch(text) is not None


@functools.lru_cache(maxsize=512)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """An IAM pattern as a regex: ``*`` any run of characters, ``?`` any one character."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _texts(value: Any) -> list[str]:
    """The strings of a list (or a single value); a joined string has its references blanked."""
    items = value if isinstance(value, list) else [value]
    return [text for text in map(_text, items) if text is not None]


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("join"), list):
        return "".join(p if isinstance(p, str) else _REF for p in value["join"])
    return None
