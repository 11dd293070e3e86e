"""Handler for Secrets Manager secrets, whose values infradsl passes on but never keeps.

Resolved properties, as the engine passes them: ``generate`` (``{"length": 32,
"exclude_characters": "", "exclude_punctuation": False, "include_space": False}``),
``value`` (``{"env_var": "NAME"}``), ``description``, ``secret_name``, ``kms_key_id``,
``recovery_window_days``, ``tags``. Properties left at ``None`` are absent.

How a value stays secret:

- it lives only in a local variable of `_send_value`, which clears it before returning or
  raising; it is never returned, logged, put in a result or in an exception's message,
  and the exception raised is a new one without the failed call's frames;
- while it travels, botocore's debug log records of the calling thread (which print
  request and response bodies) are dropped;
- reads use ``ListSecrets`` only (one call per page of 100, whatever the number of
  secrets read; a second listing when some are not tagged with the stack): no value is
  ever read back.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import BotoCoreError, ClientError

from infradsl.providers.handler import (
    TOKEN_TAG,
    CreateResult,
    HandlerContext,
    HandlerError,
    ReadResult,
    UpdateResult,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import FilterTypeDef, TagTypeDef

__all__ = ["SecretError", "SecretHandler"]

# The largest page ListSecrets returns (``MaxResults``).
_PAGE_SIZE = 100
# Loggers that print request or response bodies at DEBUG level.
_BODY_LOGGERS = (
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.hooks",
    "botocore.retryhandler",
    "botocore.retries.standard",
    "botocore.httpchecksum",
    "urllib3.connectionpool",
)


class SecretError(HandlerError):
    """A secret's value could not be obtained or stored (the message never holds the value)."""


class _QuietThreads(logging.Filter):
    """Drops records logged by threads that are sending a secret value."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.threads


_QUIET = _QuietThreads()
for _name in _BODY_LOGGERS:
    logging.getLogger(_name).addFilter(_QUIET)


@contextmanager
def _quiet() -> Iterator[None]:
    ident = threading.get_ident()
    with _QUIET.lock:
        _QUIET.threads.add(ident)
    try:
        yield
    finally:
        with _QUIET.lock:
            _QUIET.threads.discard(ident)


def _sm(ctx: HandlerContext) -> SecretsManagerClient:
    return cast("SecretsManagerClient", ctx.clients.client("secretsmanager"))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _env_value(props: Mapping[str, Any]) -> str:
    """Read the value named by ``props["value"]`` from the environment (never echoed)."""
    name = str(props["value"]["env_var"])
    if name not in os.environ:
        raise SecretError(
            f"environment variable {name!r} is not set: the secret's value is read from it "
            "at deploy time (value=SecretValue.env(...))"
        )
    return os.environ[name]


def _send_value(
    what: str,
    produce: Callable[[], str],
    send: Callable[[str], Mapping[str, Any]],
) -> Mapping[str, Any]:
    """Produce a value and send it, so that it never escapes this frame.

    On failure a new `SecretError` is raised *outside* the ``except`` block, so it holds
    neither the failed call's traceback (whose frames hold the value) nor the value.
    """
    failure = ""
    value: str | None = None
    result: Mapping[str, Any] = {}
    with _quiet():
        try:
            value = produce()
            result = send(value)
        except (ClientError, BotoCoreError) as error:
            failure = str(error)
            if value:
                failure = failure.replace(value, "***")
        finally:
            value = None
    if failure:
        raise SecretError(f"{what} failed: {failure}")
    return result


class SecretHandler:
    """A Secrets Manager secret; the secret's ARN is its physical id."""

    type_name: ClassVar[str] = "aws.secrets.Secret"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        sm = _sm(ctx)
        name = props.get("secret_name") or ctx.physical_name(256, sep="-")
        params: dict[str, Any] = {
            "Name": name,
            "ClientRequestToken": ctx.token("create")[:64],
            "Tags": _tag_list(ctx.merged_tags(props)),
        }
        if props.get("description"):
            params["Description"] = props["description"]
        if props.get("kms_key_id"):
            params["KmsKeyId"] = props["kms_key_id"]

        def create(value: str | None) -> Mapping[str, Any]:
            try:
                if value is None:
                    return sm.create_secret(**params)
                return sm.create_secret(**params, SecretString=value)
            except ClientError as error:
                # A retry after a crash finds its own secret: adopt it.
                if _code(error) != "ResourceExistsException":
                    raise
                existing = sm.describe_secret(SecretId=name)
                tags = {t["Key"]: t["Value"] for t in existing.get("Tags", [])}
                if existing.get("DeletedDate") or not all(
                    tags.get(k) == v for k, v in ctx.tags.items()
                ):
                    raise
                return existing

        if props.get("generate"):
            gen = props["generate"]
            random: dict[str, Any] = {
                "PasswordLength": int(gen.get("length", 32)),
                "ExcludePunctuation": bool(gen.get("exclude_punctuation", False)),
                "IncludeSpace": bool(gen.get("include_space", False)),
            }
            if gen.get("exclude_characters"):
                random["ExcludeCharacters"] = gen["exclude_characters"]
            created = _send_value(
                f"creating secret {name!r} with a generated value",
                lambda: sm.get_random_password(**random)["RandomPassword"],
                create,
            )
        elif props.get("value"):
            created = _send_value(f"creating secret {name!r}", lambda: _env_value(props), create)
        else:
            created = create(None)
        secret_arn = str(created["ARN"])
        return CreateResult(secret_arn, {"id": secret_arn, "arn": secret_arn, "name": name})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        wanted = set(physical_ids)
        # Only the stack's secrets (tagged at creation), when the stack is known; the
        # ARNs asked for are picked from the listing. Secrets scheduled for deletion are
        # left out of the listing: gone as far as the stack is concerned.
        filters: list[FilterTypeDef] = []
        if ctx.stack:
            filters = _stack_filters(ctx)
        found: dict[str, ReadResult] = {}
        listed = _list(ctx, filters)
        if filters and wanted - {s.get("ARN", "") for s in listed}:
            # Adopted by `infradsl import` and not tagged yet: one more listing (a call per
            # page) finds those, never another stack's.
            listed += [
                s
                for s in _list(ctx, [])
                if not any(t.get("Key") == "infradsl:stack" for t in s.get("Tags", []))
            ]
        for secret in listed:
            secret_arn = secret.get("ARN", "")
            if secret_arn in wanted:
                name = secret.get("Name", "")
                props: dict[str, Any] = {"secret_name": name}
                if secret.get("Description"):
                    props["description"] = secret["Description"]
                if secret.get("KmsKeyId"):
                    props["kms_key_id"] = secret["KmsKeyId"]
                found[secret_arn] = ReadResult(
                    properties=props,
                    attributes={"id": secret_arn, "arn": secret_arn, "name": name},
                    tags={t["Key"]: t["Value"] for t in secret.get("Tags", [])},
                )
        return found

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        sm = _sm(ctx)
        changes: dict[str, Any] = {}
        if old.get("description") != new.get("description"):
            changes["Description"] = new.get("description") or ""
        if old.get("kms_key_id") != new.get("kms_key_id"):
            changes["KmsKeyId"] = new.get("kms_key_id") or "alias/aws/secretsmanager"
        if changes:
            sm.update_secret(SecretId=physical_id, **changes)
        if new.get("value") and new.get("value") != old.get("value"):
            _send_value(
                f"storing a new value in secret {physical_id!r}",
                lambda: _env_value(new),
                lambda value: sm.put_secret_value(SecretId=physical_id, SecretString=value),
            )
        changed, removed = ctx.tag_changes(old, new)
        if removed:
            sm.untag_resource(SecretId=physical_id, TagKeys=removed)
        if changed:
            sm.tag_resource(SecretId=physical_id, Tags=_tag_list(changed))
        name = sm.describe_secret(SecretId=physical_id)["Name"]
        return UpdateResult({"id": physical_id, "arn": physical_id, "name": name})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        sm = _sm(ctx)
        try:
            if ctx.rollback:
                # Undoing a failed deploy: free the name at once for the next attempt.
                sm.delete_secret(SecretId=physical_id, ForceDeleteWithoutRecovery=True)
            else:
                window = int(props.get("recovery_window_days", 30))
                sm.delete_secret(SecretId=physical_id, RecoveryWindowInDays=window)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return
            if _code(error) == "InvalidRequestException" and _scheduled(sm, physical_id):
                return  # already scheduled for deletion by an earlier delete
            raise

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """DescribeSecret by the name create would use (never the value): adopted only if
        its token tag is this one and it is not scheduled for deletion."""
        name = props.get("secret_name") or ctx.physical_name(256, sep="-")
        try:
            secret = _sm(ctx).describe_secret(SecretId=name)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise
        tags = {t["Key"]: t["Value"] for t in secret.get("Tags", [])}
        if secret.get("DeletedDate") or tags.get(TOKEN_TAG) != ctx.creation_token:
            return None
        secret_arn = str(secret["ARN"])
        return CreateResult(secret_arn, {"id": secret_arn, "arn": secret_arn, "name": name})

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """ListSecrets filtered by the stack tag: one call per page."""
        found: dict[str, str] = {}
        for secret in _list(ctx, _stack_filters(ctx)):
            tags = {t["Key"]: t["Value"] for t in secret.get("Tags", [])}
            if tags.get("infradsl:stack") == ctx.stack:
                found[str(secret["ARN"])] = tags.get("infradsl:path", "")
        return found


def _stack_filters(ctx: HandlerContext) -> list[FilterTypeDef]:
    """ListSecrets filters for the secrets tagged ``infradsl:stack = ctx.stack``.

    (The two filters match a key and a value separately: the tags are checked again.)
    """
    return [
        {"Key": "tag-key", "Values": ["infradsl:stack"]},
        {"Key": "tag-value", "Values": [ctx.stack]},
    ]


def _list(ctx: HandlerContext, filters: list[FilterTypeDef]) -> list[Any]:
    """ListSecrets (one call per page of 100): the secrets not scheduled for deletion."""
    secrets: list[Any] = []
    paginator = _sm(ctx).get_paginator("list_secrets")
    pages = paginator.paginate(Filters=filters, PaginationConfig={"PageSize": _PAGE_SIZE})
    for page in pages:
        secrets.extend(s for s in page.get("SecretList", []) if not s.get("DeletedDate"))
    return secrets


def _scheduled(sm: SecretsManagerClient, secret_id: str) -> bool:
    """True when the secret is gone or scheduled for deletion."""
    try:
        return bool(sm.describe_secret(SecretId=secret_id).get("DeletedDate"))
    except ClientError as error:
        if _code(error) == "ResourceNotFoundException":
            return True
        raise
