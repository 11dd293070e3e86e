"""IAM resources: roles, policies and instance profiles.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import iam
    >>> role = iam.Role(Stack(App(), "demo"), "Web", assumed_by="ec2.amazonaws.com")
    >>> role.arn
    Reference(Web.arn)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import attrs

from infradsl.aws import _lookup as lk
from infradsl.aws import _validators as v
from infradsl.aws._common import Taggable
from infradsl.core.construct import Construct
from infradsl.core.lookup import make_lookup
from infradsl.core.reference import attribute, known_text
from infradsl.core.resource import is_literal, prop, resource

__all__ = ["InstanceProfile", "Policy", "Role", "Statement"]

_ACTION_RE = re.compile(r"^(\*|[a-z0-9-]+:[A-Za-z0-9*]+)$")
_PRINCIPAL_RE = re.compile(r"^([a-z0-9.-]+\.amazonaws\.com|arn:aws[a-z-]*:iam::\d{12}:.+|\d{12})$")

# AWS's limits on policy documents, in characters not counting whitespace. infradsl
# attaches every policy as a managed one (role.add_to_policy too): no inline policies,
# so the per-role inline limit does not apply.
MANAGED_POLICY_LIMIT = 6144
TRUST_POLICY_LIMIT = 2048  # the default quota; AWS raises it up to 4096 on request


def _document_size(document: dict[str, Any]) -> int:
    """The characters AWS counts in a policy document: the JSON text infradsl sends
    (``json.dumps`` with sorted keys, as `infradsl.providers.aws.iam` writes it), without
    whitespace."""
    return len("".join(json.dumps(document, sort_keys=True).split()))


def _known_size(document: dict[str, Any]) -> tuple[int, bool]:
    """The size of ``document``, and whether it is exact.

    References (ARNs resolved at deploy time) count as their known text only, a lower
    bound: a document refused here is too large whatever they resolve to, while one
    over the limit only because of them is left for AWS to refuse.
    """
    exact = True

    def known(value: Any) -> Any:
        nonlocal exact
        if isinstance(value, dict):
            return {key: known(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [known(item) for item in value]
        if isinstance(value, str) and is_literal(value):
            return value
        exact = False
        return known_text(value)

    return _document_size(known(document)), exact


def _size_problem(name: str, what: str, limit: int, document: dict[str, Any]) -> str | None:
    size, exact = _known_size(document)
    if size <= limit:
        return None
    got = str(size) if exact else f"at least {size}, references not counted"
    return f"{name!r} must make {what} of at most {limit} characters without whitespace (got {got})"


@attrs.frozen(kw_only=True)
class Statement:
    """One statement of an IAM policy.

    Args:
        actions: e.g. ``["secretsmanager:GetSecretValue"]``.
        resources: ARNs or references to them (``secret.arn``).
        effect: ``"Allow"`` or ``"Deny"``.

    Example:
        >>> Statement(actions=["s3:GetObject"], resources=["arn:aws:s3:::logs/*"])
        Statement(actions=['s3:GetObject'], resources=['arn:aws:s3:::logs/*'], effect='Allow')
    """

    actions: list[str]
    resources: list[Any]
    effect: str = "Allow"

    def problems(self, where: str) -> list[str]:
        """Messages for everything wrong with this statement."""
        found: list[str] = []
        if self.effect not in ("Allow", "Deny"):
            found.append(f"'{where}.effect' must be 'Allow' or 'Deny' (got {self.effect!r})")
        if not isinstance(self.actions, (list, tuple)) or not self.actions:
            found.append(f"'{where}.actions' must be a non-empty list (got {self.actions!r})")
        else:
            for action in self.actions:
                if not isinstance(action, str) or not _ACTION_RE.match(action):
                    found.append(
                        f"'{where}.actions' entries must look like service:Action (got {action!r})"
                    )
        if not isinstance(self.resources, (list, tuple)) or not self.resources:
            found.append(f"'{where}.resources' must be a non-empty list (got {self.resources!r})")
        return found


@resource("aws.iam.Role")
class Role(Taggable):
    """An IAM role that a service (an EC2 instance) assumes.

    Args:
        assumed_by: the service principal, e.g. ``"ec2.amazonaws.com"``, or an account/ARN.
        managed_policies: ARNs of managed policies to attach.
        description: free text.
        max_session_duration: seconds, 3600..43200.
        path: the IAM path, ``/`` by default.
        role_name: a fixed name; generated from the path when omitted.
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> Role(Stack(App(), "demo"), "Web", assumed_by="ec2.amazonaws.com")
        Role('demo/Web')
    """

    assumed_by: str = prop(
        str,
        check=v.matches(_PRINCIPAL_RE.pattern, "ec2.amazonaws.com"),
        replace=True,
    )
    managed_policies: list[str] = prop(list, items=(str,), factory=list)
    description: str | None = prop(str, default=None)
    max_session_duration: int = prop(int, default=3600, check=v.int_range(3600, 43200))
    path: str = prop(
        str, default="/", check=v.matches(r"^/([\w+=,.@-]+/)*$", "/app/"), replace=True
    )
    role_name: str | None = prop(str, default=None, check=v.max_length(64), replace=True)

    arn = attribute("The role's ARN.")
    name = attribute("The role's name.")

    @classmethod
    def lookup(
        cls,
        scope: Construct,
        construct_id: str,
        /,
        *,
        name: str | None = None,
        arn: str | None = None,
    ) -> Role:
        """An existing role that infradsl does not manage, found when planning.

        Give its name or its ARN. The result is used like a managed role: an instance
        can assume it (its instance profile is created as ``<path>/Profile``) and
        `add_to_policy` attaches a new policy to it; the role itself is never changed
        or deleted.

        Args:
            scope: the stack or component it belongs to.
            construct_id: its id there; names it in plans and errors.
            name: the role name.
            arn: the role ARN.

        Example:
            >>> from infradsl import App, Stack
            >>> ops = Role.lookup(Stack(App(), "demo"), "Ops", name="ops-role")
            >>> ops.arn
            Reference(Ops.arn)
        """
        return make_lookup(
            cls,
            scope,
            construct_id,
            {"name": name, "arn": arn},
            checks={"name": lk.ROLE_NAME, "arn": lk.ROLE_ARN},
        )

    def validate(self) -> Iterable[str]:
        if self.assumed_by is None:
            return
        # The document `infradsl.providers.aws.iam.trust_policy` sends.
        kind = "Service" if known_text(self.assumed_by).endswith(".amazonaws.com") else "AWS"
        statement = {"Effect": "Allow", "Principal": {kind: self.assumed_by}}
        document = {
            "Version": "2012-10-17",
            "Statement": [{**statement, "Action": "sts:AssumeRole"}],
        }
        problem = _size_problem("assumed_by", "a trust policy", TRUST_POLICY_LIMIT, document)
        if problem:
            yield f"{problem}; {TRUST_POLICY_LIMIT} is AWS's default quota"

    def add_to_policy(self, statement: Statement) -> Policy:
        """Add a statement to the role's default policy, a managed policy attached to it
        (created as the child ``DefaultPolicy`` on first use)."""
        policy = self.node.try_find_child("DefaultPolicy")
        if not isinstance(policy, Policy):
            policy = Policy(self, "DefaultPolicy", roles=[self], statements=[])
        policy.statements.append(statement)
        return policy

    def instance_profile(self) -> InstanceProfile:
        """The instance profile of this role (created as the child ``Profile`` on first use)."""
        profile = self.node.try_find_child("Profile")
        if not isinstance(profile, InstanceProfile):
            profile = InstanceProfile(self, "Profile", role=self)
        return profile


@resource("aws.iam.Policy")
class Policy(Taggable):
    """An IAM managed policy attached to roles.

    Args:
        statements: the policy's statements; their document may have at most 6144
            characters, whitespace excluded (AWS's limit).
        roles: roles to attach it to.
        policy_name: a fixed name; generated from the path when omitted.
        description: free text.
        tags: extra tags.
    """

    statements: list[Statement] = prop(list, items=(Statement,), factory=list)
    roles: list[Role] = prop(list, items=(Role,), factory=list)
    policy_name: str | None = prop(str, default=None, check=v.max_length(128), replace=True)
    description: str | None = prop(str, default=None, replace=True)

    arn = attribute("The policy's ARN.")

    def validate(self) -> Iterable[str]:
        if not self.statements:
            yield "'statements' must not be empty: a policy needs at least one statement"
        for index, statement in enumerate(self.statements or ()):
            if isinstance(statement, Statement):
                yield from statement.problems(f"statements[{index}]")
        problem = _size_problem(
            "statements", "a policy document", MANAGED_POLICY_LIMIT, self._document()
        )
        if problem:
            yield f"{problem}; split them across several iam.Policy attached to the same roles"

    def _document(self) -> dict[str, Any]:
        """The policy document as `infradsl.providers.aws.iam_policy.policy_document`
        writes it, references unresolved."""

        def listed(values: Any) -> list[Any]:
            return list(values) if isinstance(values, (list, tuple)) else []

        body = [
            {"Effect": s.effect, "Action": listed(s.actions), "Resource": listed(s.resources)}
            for s in self.statements or ()
            if isinstance(s, Statement)
        ]
        return {"Version": "2012-10-17", "Statement": body}


@resource("aws.iam.InstanceProfile")
class InstanceProfile(Taggable):
    """The container that passes a role to an EC2 instance.

    Created implicitly when an `infradsl.aws.ec2.Instance` gets a ``role``.

    Args:
        role: the role.
        profile_name: a fixed name; generated from the path when omitted.
        tags: extra tags.
    """

    role: Role = prop(Role, replace=False)
    profile_name: str | None = prop(str, default=None, replace=True)

    arn = attribute("The profile's ARN.")
    name = attribute("The profile's name.")
