"""Helpers shared by the IAM handlers: the client, tags, batch listings, recovery lookups."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from infradsl.providers.handler import TOKEN_TAG, HandlerContext

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_iam.literals import EntityTypeType
    from mypy_boto3_iam.type_defs import (
        ManagedPolicyDetailTypeDef,
        RoleDetailTypeDef,
        TagTypeDef,
    )

__all__ = [
    "PAGE_SIZE",
    "authorization_details",
    "created_by",
    "decode_document",
    "iam_client",
    "ignore_no_such_entity",
    "is_no_such_entity",
    "is_ours",
    "stack_paths",
    "tag_changes",
    "tag_dict",
    "tag_list",
]

# The largest page IAM's list operations return (``MaxItems``).
PAGE_SIZE = 1000


def iam_client(ctx: HandlerContext) -> IAMClient:
    """The stack's IAM client, typed."""
    return cast("IAMClient", ctx.clients.client("iam"))


def is_no_such_entity(error: ClientError) -> bool:
    """True when ``error`` says the role, policy or profile does not exist."""
    return error.response.get("Error", {}).get("Code") == "NoSuchEntity"


@contextmanager
def ignore_no_such_entity() -> Iterator[None]:
    """Swallow "no such entity" errors: deleting or detaching something gone is done."""
    try:
        yield
    except ClientError as error:
        if not is_no_such_entity(error):
            raise


def tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    """IAM's ``[{"Key": ..., "Value": ...}]`` list of ``tags``, sorted by key."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_dict(tags: Sequence[TagTypeDef] | None) -> dict[str, str]:
    """A ``{key: value}`` dict from IAM's tag list."""
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def tag_changes(
    ctx: HandlerContext, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[TagTypeDef], list[str]]:
    """Tags to set and tag keys to remove (`HandlerContext.tag_changes`): from
    ``ctx.live_tags`` when known; system tags are never removed, the token never rewritten.
    """
    changed, removed = ctx.tag_changes(old, new)
    return tag_list(changed), removed


def is_ours(ctx: HandlerContext, tags: Mapping[str, str]) -> bool:
    """True when ``tags`` are all of this creation's system tags (the token included)."""
    return all(tags.get(key) == value for key, value in ctx.tags.items())


def created_by(ctx: HandlerContext, tags: Mapping[str, str]) -> bool:
    """True when ``tags`` mark what ``create(ctx, ...)`` made (its ``infradsl:token``)."""
    return tags.get(TOKEN_TAG) == ctx.creation_token


def stack_paths(
    ctx: HandlerContext,
    listed: Iterable[tuple[str, str, Mapping[str, str] | None]],
    fetch_tags: Callable[[str], Mapping[str, str] | None],
) -> dict[str, str]:
    """Physical id -> ``infradsl:path`` of the listed resources that belong to the stack.

    ``listed`` holds ``(physical id, name, tags)``, tags None where the listing leaves them
    out (IAM's list calls do). Those are fetched one by one with ``fetch_tags(physical id)``
    (None if gone), but only for names starting with ``<stack>-``, the prefix of the names
    infradsl generates: a resource with an explicit name is then not found.
    """
    prefix = f"{ctx.stack}-"
    found: dict[str, str] = {}
    for physical_id, name, listed_tags in listed:
        tags = listed_tags
        if tags is None and name.startswith(prefix):
            tags = fetch_tags(physical_id)
        if tags is not None and tags.get("infradsl:stack") == ctx.stack:
            found[physical_id] = tags.get("infradsl:path", "")
    return found


def authorization_details(
    iam: IAMClient, entities: Sequence[EntityTypeType]
) -> tuple[list[RoleDetailTypeDef], list[ManagedPolicyDetailTypeDef]]:
    """Every role and customer-managed policy of the account: one call per page.

    ``entities`` is the ``Filter`` (``"Role"``, ``"LocalManagedPolicy"``). A role's entry
    has its path, trust policy, tags and attached policies (not its description nor its
    maximum session duration); a policy's has its description and every version's
    document (not its tags).
    """
    roles: list[RoleDetailTypeDef] = []
    policies: list[ManagedPolicyDetailTypeDef] = []
    paginator = iam.get_paginator("get_account_authorization_details")
    pages = paginator.paginate(Filter=list(entities), PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        roles.extend(page.get("RoleDetailList", []))
        policies.extend(page.get("Policies", []))
    return roles, policies


def decode_document(raw: Any) -> dict[str, Any]:
    """A policy document as a dict (botocore decodes most, but not every, response)."""
    if isinstance(raw, str):
        from urllib.parse import unquote

        return cast("dict[str, Any]", json.loads(unquote(raw)))
    return cast("dict[str, Any]", raw or {})
