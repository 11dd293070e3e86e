"""Secrets Manager: secrets whose values never appear in code, output, state or logs.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import iam, secrets
    >>> stack = Stack(App(), "demo")
    >>> role = iam.Role(stack, "Web", assumed_by="ec2.amazonaws.com")
    >>> password = secrets.Secret(stack, "DbPassword", generate=secrets.Generate(length=32))
    >>> password.grant_read(role)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from infradsl.aws import _validators as v
from infradsl.aws._common import Taggable
from infradsl.aws.iam import Role, Statement
from infradsl.core.reference import attribute
from infradsl.core.resource import prop, resource

__all__ = ["Generate", "Secret", "SecretValue"]


@attrs.frozen(kw_only=True)
class Generate:
    """Have AWS generate a random value at deploy time; infradsl never sees it.

    Args:
        length: 8..4096 characters.
        exclude_characters: characters never to use.
        exclude_punctuation: letters and digits only.
        include_space: allow the space character.
    """

    length: int = 32
    exclude_characters: str = ""
    exclude_punctuation: bool = False
    include_space: bool = False

    def problems(self, where: str) -> list[str]:
        """Messages for everything wrong with these settings."""
        if not isinstance(self.length, int) or not 8 <= self.length <= 4096:
            return [f"'{where}.length' must be in 8..4096 (got {self.length!r})"]
        return []


@attrs.frozen
class SecretValue:
    """Where a secret's value comes from at deploy time, never a literal in code.

    Example:
        >>> SecretValue.env("DB_PASSWORD")
        SecretValue(env_var='DB_PASSWORD')
    """

    env_var: str

    @classmethod
    def env(cls, name: str) -> SecretValue:
        """Read the value from an environment variable of the deploying process."""
        return cls(env_var=name)


@resource("aws.secrets.Secret")
class Secret(Taggable):
    """A Secrets Manager secret.

    Give it ``generate`` (a random value made by AWS) or ``value`` (read from the
    environment at deploy time), or neither to fill it in by hand later. A plain string is
    refused: a secret written in code would end up in git.

    Args:
        generate: generate a random value.
        value: a `SecretValue`, e.g. ``SecretValue.env("DB_PASSWORD")``.
        description: free text.
        secret_name: a fixed name; generated from the path when omitted.
        kms_key_id: a KMS key; the account's default key when omitted.
        recovery_window_days: 7..30 days to keep a deleted secret recoverable.
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> Secret(Stack(App(), "demo"), "Token", value=SecretValue.env("API_TOKEN"))
        Secret('demo/Token')
    """

    generate: Generate | None = prop(Generate, default=None, replace=True)
    value: SecretValue | None = prop(SecretValue, default=None)
    description: str | None = prop(str, default=None)
    secret_name: str | None = prop(
        str,
        default=None,
        check=v.matches(r"^[\w/+=.@-]{1,512}$", "prod/db-password"),
        replace=True,
    )
    kms_key_id: str | None = prop(str, default=None)
    recovery_window_days: int = prop(int, default=30, check=v.int_range(7, 30))

    arn = attribute("The secret's ARN.")
    name = attribute("The secret's name.")

    def _prepare(self, properties: dict[str, Any]) -> None:
        if isinstance(properties.get("value"), str):
            # Never keep the plain text, not even to report it.
            properties["value"] = None
            self.node.add_problem(
                "'value' must be a secret source, not a plain string: secrets never appear in "
                "code; use value=secrets.SecretValue.env('NAME') or "
                "generate=secrets.Generate()"
            )

    def grant_read(self, role: Role) -> None:
        """Allow ``role`` to read this secret's value (GetSecretValue, DescribeSecret)."""
        if not isinstance(role, Role):
            self.node.add_problem(f"grant_read() takes an iam.Role (got {type(role).__name__})")
            return
        role.add_to_policy(
            Statement(
                actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                resources=[self.arn],
            )
        )

    def validate(self) -> Iterable[str]:
        if self.generate is not None and self.value is not None:
            yield "pass either 'generate' or 'value', not both"
        if isinstance(self.generate, Generate):
            yield from self.generate.problems("generate")
