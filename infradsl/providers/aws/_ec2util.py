"""Helpers shared by the EC2 handlers: clients, tags, pagination, waiting, "not found" errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from infradsl.providers.aws._wait import run_waiter
from infradsl.providers.handler import TOKEN_TAG, HandlerContext

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import FilterTypeDef, TagSpecificationTypeDef, TagTypeDef

__all__ = [
    "IN_USE_DELAY",
    "IN_USE_MAX_ATTEMPTS",
    "MAX_FILTER_VALUES",
    "WAIT_DELAY",
    "WAIT_MAX_ATTEMPTS",
    "arn",
    "created_by",
    "describe_all",
    "describe_ids",
    "ec2_client",
    "error_code",
    "id_filter",
    "ignore_not_found",
    "is_not_found",
    "one_created",
    "retry_while_in_use",
    "stack_filter",
    "stack_paths",
    "sync_tags",
    "tag_specifications",
    "tags_of",
    "token_filter",
    "undo_on_failure",
    "wait_for",
]

# Bounded waiting: seconds between polls and how many polls before giving up (10 minutes).
WAIT_DELAY = 5
WAIT_MAX_ATTEMPTS = 120

# EC2 caps the values of one filter; longer id lists are read in chunks of this size.
MAX_FILTER_VALUES = 200

# Retrying a delete that AWS refuses because something still uses the resource (2 minutes).
IN_USE_DELAY = 5
IN_USE_MAX_ATTEMPTS = 24
_IN_USE_CODES = frozenset({"DependencyViolation", "InvalidIPAddress.InUse"})

# Error codes meaning "the thing is already gone" (EC2 is not consistent in naming them).
_NOT_FOUND_CODES = frozenset(
    {
        "NatGatewayNotFound",
        "InvalidGroup.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidAssociationID.NotFound",
        "InvalidPermission.NotFound",
        "InvalidSecurityGroupRuleId.NotFound",
        "Gateway.NotAttached",
    }
)


def ec2_client(ctx: HandlerContext) -> EC2Client:
    """The stack's EC2 client, typed."""
    return cast("EC2Client", ctx.clients.client("ec2"))


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error`` (``"InvalidVpcID.NotFound"``)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_not_found(error: ClientError) -> bool:
    """True when ``error`` says the resource (or the association/rule) does not exist."""
    code = error_code(error)
    return code.endswith(".NotFound") or code in _NOT_FOUND_CODES


@contextmanager
def ignore_not_found() -> Iterator[None]:
    """Swallow "not found" errors: deleting or detaching something gone is done."""
    try:
        yield
    except ClientError as error:
        if not is_not_found(error):
            raise


def tag_specifications(
    resource_type: ResourceTypeType, tags: Mapping[str, str]
) -> list[TagSpecificationTypeDef]:
    """``TagSpecifications`` that tag a resource of ``resource_type`` at creation."""
    return [
        {
            "ResourceType": resource_type,
            "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())],
        }
    ]


def tags_of(tags: Iterable[TagTypeDef] | None) -> dict[str, str]:
    """A ``{key: value}`` dict from EC2's ``[{"Key": ..., "Value": ...}]`` list."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or ()}


def sync_tags(
    ec2: EC2Client,
    resource_id: str,
    ctx: HandlerContext,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
) -> None:
    """Move the tags from ``old`` to ``new`` props (from ``ctx.live_tags`` when known);
    system tags are never removed and the creation's token is never rewritten
    (`HandlerContext.tag_changes`)."""
    changed, removed = ctx.tag_changes(old, new)
    if removed:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": key} for key in removed])
    if changed:
        ec2.create_tags(
            Resources=[resource_id],
            Tags=[{"Key": key, "Value": value} for key, value in sorted(changed.items())],
        )


def created_by(ctx: HandlerContext, tags: Mapping[str, str]) -> bool:
    """True when ``tags`` mark the resource ``create(ctx, ...)`` made (its ``infradsl:token``)."""
    return tags.get(TOKEN_TAG) == ctx.creation_token


def token_filter(ctx: HandlerContext) -> list[FilterTypeDef]:
    """A describe filter selecting what ``create(ctx, ...)`` made, by its ``infradsl:token``."""
    return [{"Name": f"tag:{TOKEN_TAG}", "Values": [ctx.creation_token]}]


def stack_filter(ctx: HandlerContext) -> list[FilterTypeDef]:
    """A describe filter selecting the resources tagged ``infradsl:stack = ctx.stack``."""
    return [{"Name": "tag:infradsl:stack", "Values": [ctx.stack]}]


def one_created(ctx: HandlerContext, items: Iterable[Any], id_key: str) -> Any | None:
    """The item ``create(ctx, ...)`` made among described ``items``, or None.

    The tags are checked again here: not every endpoint applies tag filters (the local
    emulator ignores them for NAT gateways). Should a retried call have made two, the
    lowest id wins, so repeated lookups agree.
    """
    mine = [item for item in items if created_by(ctx, tags_of(item.get("Tags")))]
    return min(mine, key=lambda item: str(item[id_key])) if mine else None


def stack_paths(ctx: HandlerContext, items: Iterable[Any], id_key: str) -> dict[str, str]:
    """Physical id -> ``infradsl:path`` of the described ``items`` that belong to the stack."""
    found: dict[str, str] = {}
    for item in items:
        tags = tags_of(item.get("Tags"))
        if tags.get("infradsl:stack") == ctx.stack:
            found[str(item[id_key])] = tags.get("infradsl:path", "")
    return found


def id_filter(name: str, ids: Sequence[str]) -> list[FilterTypeDef]:
    """A filter selecting ``ids``: unlike ``*Ids=[...]`` it skips missing ids without failing."""
    return [{"Name": name, "Values": list(ids)}]


def describe_all(ec2: EC2Client, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item under ``key`` of a paginated describe call (one request per page)."""
    paginator = ec2.get_paginator(operation)  # type: ignore[call-overload]
    items: list[Any] = []
    for page in paginator.paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def describe_ids(
    ec2: EC2Client,
    operation: str,
    key: str,
    id_name: str,
    ids: Sequence[str],
    *,
    filter_param: str = "Filters",
) -> list[Any]:
    """The existing resources among ``ids``: one request per page (none if ``ids`` is empty).

    Selects by the ``id_name`` filter because ``*Ids=[...]`` fails the whole call when any
    id is missing, while the filter just leaves it out. ``filter_param`` is ``"Filter"`` for
    DescribeNatGateways.
    """
    items: list[Any] = []
    for start in range(0, len(ids), MAX_FILTER_VALUES):
        chunk = ids[start : start + MAX_FILTER_VALUES]
        items.extend(describe_all(ec2, operation, key, **{filter_param: id_filter(id_name, chunk)}))
    return items


def wait_for(ec2: EC2Client, waiter: str, **kwargs: Any) -> None:
    """Run botocore's ``waiter`` with the module's bounded delay and attempts.

    Raises:
        WaitTimeoutError: the attempts ran out (it carries the last observed state).
        WaitFailedError: the resource reached a failure state instead.
    """
    run_waiter(ec2, waiter, delay=WAIT_DELAY, max_attempts=WAIT_MAX_ATTEMPTS, **kwargs)


def arn(region: str, account: str, kind: str, resource_id: str) -> str:
    """The ARN of an EC2 resource: ``arn:aws:ec2:<region>:<account>:<kind>/<id>``."""
    if region.startswith("cn-"):
        partition = "aws-cn"
    elif region.startswith("us-gov-"):
        partition = "aws-us-gov"
    else:
        partition = "aws"
    return f"arn:{partition}:ec2:{region}:{account}:{kind}/{resource_id}"


def retry_while_in_use(call: Callable[[], object], codes: frozenset[str] = _IN_USE_CODES) -> None:
    """Run ``call``, retrying (bounded) while AWS says something still uses the resource.

    Deletes in reverse dependency order can still race AWS's eventual consistency: the ENI
    of a NAT gateway deleted a second ago may still hold its subnet.
    """
    for attempt in range(IN_USE_MAX_ATTEMPTS):
        try:
            call()
            return
        except ClientError as error:
            if error_code(error) not in codes or attempt == IN_USE_MAX_ATTEMPTS - 1:
                raise
        time.sleep(IN_USE_DELAY)


@contextmanager
def undo_on_failure(cleanup: Callable[[], object]) -> Iterator[None]:
    """Run ``cleanup`` (best effort) if the block fails, then re-raise.

    A create that fails after the resource exists (an attribute, an attachment) must not
    leave it behind: the engine only learns physical ids from a successful create.
    """
    try:
        yield
    except BaseException:
        with suppress(Exception):
            cleanup()
        raise
