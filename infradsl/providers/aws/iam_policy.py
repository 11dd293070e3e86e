"""Handler for customer-managed IAM policies (see `infradsl.providers.aws.iam`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import ClientError

from infradsl.providers.aws._iamutil import (
    PAGE_SIZE,
    authorization_details,
    created_by,
    decode_document,
    iam_client,
    ignore_no_such_entity,
    is_no_such_entity,
    stack_paths,
    tag_changes,
    tag_dict,
    tag_list,
)
from infradsl.providers.handler import CreateResult, HandlerContext, ReadResult, UpdateResult

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_sts.client import STSClient

__all__ = ["MAX_POLICY_VERSIONS", "PolicyHandler", "policy_document"]

# A managed policy keeps at most five versions; the oldest non-default one makes room.
MAX_POLICY_VERSIONS = 5


def policy_document(statements: Sequence[Mapping[str, Any]]) -> str:
    """The JSON policy document of resolved ``statements``.

    Example:
        >>> policy_document([{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"]}])
        '{"Statement": [{"Action": ["s3:GetObject"], "Effect": "Allow", "Resource": ["arn:aws:s3:::b/*"]}], "Version": "2012-10-17"}'
    """  # noqa: E501
    body = [
        {
            "Effect": s.get("effect", "Allow"),
            "Action": list(s.get("actions", [])),
            "Resource": list(s.get("resources", [])),
        }
        for s in statements
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": body}, sort_keys=True)


def _statements_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    def as_list(value: Any) -> list[Any]:
        return [value] if isinstance(value, str) else list(value or [])

    return [
        {
            "actions": as_list(s.get("Action")),
            "effect": s.get("Effect", "Allow"),
            "resources": as_list(s.get("Resource")),
        }
        for s in document.get("Statement", [])
    ]


class PolicyHandler:
    """A customer-managed IAM policy attached to roles; the policy ARN is its id."""

    type_name: ClassVar[str] = "aws.iam.Policy"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        iam = iam_client(ctx)
        params: dict[str, Any] = {
            "PolicyName": props.get("policy_name") or ctx.physical_name(128),
            "PolicyDocument": policy_document(props.get("statements", [])),
            "Tags": tag_list(ctx.merged_tags(props)),
        }
        if props.get("description"):
            params["Description"] = props["description"]
        policy_arn = iam.create_policy(**params)["Policy"]["Arn"]
        try:
            for role in props.get("roles", []):
                iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
        except BaseException:
            # The engine only learns ids from a successful create: leave nothing behind.
            self.delete(ctx, policy_arn, props)
            raise
        return CreateResult(policy_arn, {"id": policy_arn, "arn": policy_arn})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        wanted = set(physical_ids)
        roles, policies = authorization_details(iam_client(ctx), ["Role", "LocalManagedPolicy"])
        # A policy's attachments, from the roles' side: no call per policy.
        attached: dict[str, list[str]] = {}
        for role in roles:
            for attachment in role.get("AttachedManagedPolicies", []):
                if "PolicyArn" in attachment and "RoleName" in role:
                    attached.setdefault(attachment["PolicyArn"], []).append(role["RoleName"])
        found: dict[str, ReadResult] = {}
        for policy in policies:
            policy_arn = policy.get("Arn", "")
            if policy_arn not in wanted:
                continue
            default = policy.get("DefaultVersionId")
            document: Any = None
            for version in policy.get("PolicyVersionList", []):
                if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                    document = version.get("Document")
                    break
            props: dict[str, Any] = {
                "policy_name": policy.get("PolicyName") or policy_arn.rsplit("/", 1)[-1],
                "statements": _statements_of(decode_document(document)),
                "roles": sorted(attached.get(policy_arn, [])),
            }
            if policy.get("Description"):
                props["description"] = policy["Description"]
            # The batch API does not return a policy's tags and ListPolicyTags is a call
            # per policy: tags are not read back.
            found[policy_arn] = ReadResult(
                properties=props, attributes={"id": policy_arn, "arn": policy_arn}
            )
        return found

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        iam = iam_client(ctx)
        if old.get("statements") != new.get("statements"):
            versions = iam.list_policy_versions(PolicyArn=physical_id).get("Versions", [])
            if len(versions) >= MAX_POLICY_VERSIONS:
                oldest = min(
                    (v for v in versions if not v.get("IsDefaultVersion")),
                    key=lambda v: (v.get("CreateDate") or 0, v.get("VersionId", "")),
                )
                iam.delete_policy_version(PolicyArn=physical_id, VersionId=oldest["VersionId"])
            iam.create_policy_version(
                PolicyArn=physical_id,
                PolicyDocument=policy_document(new.get("statements", [])),
                SetAsDefault=True,
            )
        before, after = set(old.get("roles", [])), set(new.get("roles", []))
        for role in sorted(after - before):
            iam.attach_role_policy(RoleName=role, PolicyArn=physical_id)
        for role in sorted(before - after):
            with ignore_no_such_entity():
                iam.detach_role_policy(RoleName=role, PolicyArn=physical_id)
        changed, removed = tag_changes(ctx, old, new)
        if removed:
            iam.untag_policy(PolicyArn=physical_id, TagKeys=removed)
        if changed:
            iam.tag_policy(PolicyArn=physical_id, Tags=changed)
        return UpdateResult({"id": physical_id, "arn": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        iam = iam_client(ctx)
        with ignore_no_such_entity():
            paginator = iam.get_paginator("list_entities_for_policy")
            for page in paginator.paginate(PolicyArn=physical_id):
                for role in page.get("PolicyRoles", []):
                    with ignore_no_such_entity():
                        iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=physical_id)
                for user in page.get("PolicyUsers", []):
                    with ignore_no_such_entity():
                        iam.detach_user_policy(UserName=user["UserName"], PolicyArn=physical_id)
                for group in page.get("PolicyGroups", []):
                    with ignore_no_such_entity():
                        iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=physical_id)
            for version in iam.list_policy_versions(PolicyArn=physical_id).get("Versions", []):
                if not version.get("IsDefaultVersion"):
                    iam.delete_policy_version(PolicyArn=physical_id, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=physical_id)

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """The ARN of the name create would use (GetCallerIdentity for the account), then
        ListPolicyTags: adopted only if its token tag is this one."""
        name = props.get("policy_name") or ctx.physical_name(128)
        policy_arn = _policy_arn(ctx, name)
        tags = _policy_tags(iam_client(ctx), policy_arn)
        if tags is None or not created_by(ctx, tags):
            return None
        return CreateResult(policy_arn, {"id": policy_arn, "arn": policy_arn})

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """ListPolicies (local ones, one call per page), then ListPolicyTags for each policy
        named ``<stack>-...``: no listing returns a managed policy's tags."""
        iam = iam_client(ctx)
        listed: list[tuple[str, str, Mapping[str, str] | None]] = []
        paginator = iam.get_paginator("list_policies")
        pages = paginator.paginate(Scope="Local", PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            for policy in page.get("Policies", []):
                tags = tag_dict(policy["Tags"]) if "Tags" in policy else None
                listed.append((policy.get("Arn", ""), policy.get("PolicyName", ""), tags))
        return stack_paths(ctx, listed, lambda policy_arn: _policy_tags(iam, policy_arn))


def _policy_arn(ctx: HandlerContext, name: str) -> str:
    """The ARN a policy named ``name`` gets at path ``/`` in the caller's account."""
    sts = cast("STSClient", ctx.clients.client("sts"))
    identity = sts.get_caller_identity()
    partition = identity.get("Arn", "arn:aws:").split(":")[1] or "aws"
    return f"arn:{partition}:iam::{identity['Account']}:policy/{name}"


def _policy_tags(iam: IAMClient, policy_arn: str) -> dict[str, str] | None:
    """A managed policy's tags (every page), or None if there is no such policy."""
    tags: dict[str, str] = {}
    marker: str | None = None
    try:
        while True:
            page = (
                iam.list_policy_tags(PolicyArn=policy_arn, Marker=marker)
                if marker
                else iam.list_policy_tags(PolicyArn=policy_arn)
            )
            tags.update(tag_dict(page.get("Tags")))
            marker = page.get("Marker") if page.get("IsTruncated") else None
            if not marker:
                return tags
    except ClientError as error:
        if is_no_such_entity(error):
            return None
        raise
