"""Secrets Manager: secrets whose values never appear in code, output, state or logs.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import iam, secrets
    >>> stack = Stack(App(), "demo")
    >>> role = iam.Role(stack, "Web", assumed_by="ec2.amazonaws.com")
    >>> password = secrets.Secret(stack, "DbPassword", generate=secrets.Generate(length=32))
    >>> password.grant_read(role)
    >>> user_data = f"#!/bin/sh\\n{password.fetch_at_boot(to='/run/db-password')}./start\\n"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from infradsl.aws import _validators as v
from infradsl.aws._boot import destination_problems, fetch_snippet
from infradsl.aws._common import Taggable
from infradsl.aws.iam import Role, Statement
from infradsl.core._source import format_location, user_location
from infradsl.core.reference import Reference, attribute
from infradsl.core.resource import prop, resource
from infradsl.errors import Problem, ValidationError

__all__ = ["Generate", "Secret", "SecretValue", "fetch_at_boot"]


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

    def fetch_at_boot(
        self,
        *,
        to: str | None = None,
        env: str | None = None,
        region: str | Reference | None = None,
        attempts: int = 60,
    ) -> str:
        """A boot snippet that reads this secret through the instance role: see `fetch_at_boot`.

        Example:
            >>> from infradsl import App, Stack
            >>> secret = Secret(Stack(App(), "demo"), "Token", generate=Generate())
            >>> snippet = secret.fetch_at_boot(env="API_TOKEN")
            >>> "export API_TOKEN" in snippet
            True
        """
        return _render(self, self.node.path, to=to, env=env, region=region, attempts=attempts)

    def validate(self) -> Iterable[str]:
        if self.generate is not None and self.value is not None:
            yield "pass either 'generate' or 'value', not both"
        if isinstance(self.generate, Generate):
            yield from self.generate.problems("generate")


def fetch_at_boot(
    secret: Secret | Reference | str,
    *,
    to: str | None = None,
    env: str | None = None,
    region: str | Reference | None = None,
    attempts: int = 60,
) -> str:
    """A POSIX sh snippet for user data that reads a secret at boot through the instance role.

    The snippet holds the secret's ARN (a reference, filled in at deploy), never its
    value. On the instance it gets an IMDSv2 token, reads the region from the instance
    metadata, calls ``aws secretsmanager get-secret-value`` with the role's credentials
    (retried: a new role may not be usable in the first seconds), and either writes the
    value to a file created with mode 0600 or exports it in a variable, with shell
    tracing off; the value is never printed. If every attempt fails it prints why to
    stderr and ends the script with exit status 1. It needs ``curl`` and the AWS CLI,
    which Amazon Linux ships, and the role must be allowed to read the secret
    (``secret.grant_read(role)``; ``infradsl check`` rule SEC002 finds a missing grant).

    Args:
        secret: a `Secret`, a reference to its ARN, or the ARN or name of a secret that
            infradsl does not manage.
        to: an absolute path: write the value there, mode 0600 (its directory is
            created; trailing newlines of the value are dropped).
        env: or a variable name: set and export it in the rest of the script.
        region: the secret's region when it is not the instance's own.
        attempts: tries of each step, 2 seconds apart (60: about two minutes).

    Returns:
        Text to put into an f-string user data, ending with a newline.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import ec2, iam
        >>> stack = Stack(App(), "demo")
        >>> role = iam.Role(stack, "Web", assumed_by="ec2.amazonaws.com")
        >>> password = Secret(stack, "DbPassword", generate=Generate())
        >>> password.grant_read(role)
        >>> user_data = (f"#!/bin/sh\\n{fetch_at_boot(password, to='/run/db-password')}"
        ...              "exec /opt/app/start --password-file /run/db-password\\n")
    """
    if isinstance(secret, Secret):
        path = secret.node.path
    elif isinstance(secret, (Reference, str)):
        path = ""
    else:
        raise ValidationError(
            [
                Problem(
                    "",
                    "fetch_at_boot() takes a secrets.Secret, a reference to its ARN or an ARN "
                    f"(got {type(secret).__name__})",
                    format_location(user_location(1)),
                )
            ]
        )
    return _render(secret, path, to=to, env=env, region=region, attempts=attempts)


def _render(
    secret: Secret | Reference | str,
    path: str,
    *,
    to: str | None,
    env: str | None,
    region: str | Reference | None,
    attempts: int,
) -> str:
    problems = destination_problems(to, env, attempts)
    if region is not None and not isinstance(region, (str, Reference)):
        problems.append(f"'region' must be a region like us-east-1 (got {region!r})")
    if problems:
        where = format_location(user_location(2))
        raise ValidationError(Problem(path, message, where) for message in problems)
    secret_id = str(secret.arn) if isinstance(secret, Secret) else str(secret)
    return fetch_snippet(
        secret_id,
        to=to,
        env=env,
        region=None if region is None else str(region),
        attempts=attempts,
    )
