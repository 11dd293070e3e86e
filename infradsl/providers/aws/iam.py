"""Handlers for IAM: roles, managed policies and instance profiles.

IAM is global: the region does not matter, but the context's clients (and endpoint) do.

Reads are batched: the number of calls grows with the number of pages, never with the
number of ids read (``GetAccountAuthorizationDetails`` for roles and policies,
``ListInstanceProfiles`` for instance profiles, up to 1000 items a page). A property the
batch APIs do not return is not read back (so it is not checked for drift) rather than
read with a call per resource.

Resolved properties, as the engine passes them:

- ``aws.iam.Role``: ``assumed_by``, ``managed_policies`` (ARNs), ``description``,
  ``max_session_duration``, ``path``, ``role_name``, ``tags``.
- ``aws.iam.Policy``: ``statements`` (``[{"actions": [...], "resources": [ARN...],
  "effect": "Allow"}]``), ``roles`` (role names), ``policy_name``, ``description``, ``tags``.
- ``aws.iam.InstanceProfile``: ``role`` (role name), ``profile_name``, ``tags``.

Properties left at ``None`` are absent from the mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import ClientError

from infradsl.providers.handler import CreateResult, HandlerContext, ReadResult, UpdateResult

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_iam.literals import EntityTypeType
    from mypy_boto3_iam.type_defs import (
        InstanceProfileTypeDef,
        ManagedPolicyDetailTypeDef,
        RoleDetailTypeDef,
        TagTypeDef,
    )

__all__ = ["InstanceProfileHandler", "PolicyHandler", "RoleHandler"]

# A managed policy keeps at most five versions; the oldest non-default one makes room.
MAX_POLICY_VERSIONS = 5
# The largest page IAM's list operations return (``MaxItems``).
_PAGE_SIZE = 1000
_ACCOUNT_RE = re.compile(r"^\d{12}$")


def _iam(ctx: HandlerContext) -> IAMClient:
    return cast("IAMClient", ctx.clients.client("iam"))


@contextmanager
def _ignore_no_such_entity() -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _tag_dict(tags: Sequence[TagTypeDef] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def _tag_changes(
    ctx: HandlerContext, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[TagTypeDef], list[str]]:
    """Tags to set and user tag keys to remove; system tags are never removed."""
    before, after = ctx.merged_tags(old), ctx.merged_tags(new)
    changed = {key: value for key, value in after.items() if before.get(key) != value}
    removed = sorted(key for key in before if key not in after and key not in ctx.tags)
    return _tag_list(changed), removed


def _authorization_details(
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
    pages = paginator.paginate(Filter=list(entities), PaginationConfig={"PageSize": _PAGE_SIZE})
    for page in pages:
        roles.extend(page.get("RoleDetailList", []))
        policies.extend(page.get("Policies", []))
    return roles, policies


def _document(raw: Any) -> dict[str, Any]:
    """A policy document as a dict (botocore decodes most, but not every, response)."""
    if isinstance(raw, str):
        from urllib.parse import unquote

        return cast("dict[str, Any]", json.loads(unquote(raw)))
    return cast("dict[str, Any]", raw or {})


def trust_policy(assumed_by: str) -> str:
    """The assume-role policy letting ``assumed_by`` (a service, account or ARN) assume a role.

    Example:
        >>> json.loads(trust_policy("ec2.amazonaws.com"))["Statement"][0]["Principal"]
        {'Service': 'ec2.amazonaws.com'}
    """
    if assumed_by.endswith(".amazonaws.com"):
        principal = {"Service": assumed_by}
    else:
        principal = {"AWS": assumed_by}
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)


def _principal_of(document: Mapping[str, Any]) -> str | None:
    for statement in document.get("Statement", []):
        principal = statement.get("Principal", {})
        for key in ("Service", "AWS"):
            value = principal.get(key)
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if isinstance(value, str):
                match = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):root$", value)
                return match.group(1) if match and key == "AWS" else value
    return None


class RoleHandler:
    """An IAM role with its trust policy and managed policies; the role name is its id."""

    type_name: ClassVar[str] = "aws.iam.Role"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        iam = _iam(ctx)
        name = props.get("role_name") or ctx.physical_name(64)
        params: dict[str, Any] = {
            "RoleName": name,
            "Path": props.get("path", "/"),
            "AssumeRolePolicyDocument": trust_policy(props["assumed_by"]),
            "MaxSessionDuration": int(props.get("max_session_duration", 3600)),
            "Tags": _tag_list(ctx.merged_tags(props)),
        }
        if props.get("description"):
            params["Description"] = props["description"]
        try:
            role = iam.create_role(**params)["Role"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
                raise
            # A retry after a crash finds its own role: adopt it; anyone else's is refused.
            role = iam.get_role(RoleName=name)["Role"]
            if not _is_ours(ctx, _tag_dict(role.get("Tags"))):
                raise
        try:
            for policy_arn in props.get("managed_policies", []):
                iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        except BaseException:
            # The engine only learns ids from a successful create: leave nothing behind.
            self.delete(ctx, name, props)
            raise
        return CreateResult(name, {"id": name, "arn": role["Arn"], "name": name})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        wanted = set(physical_ids)
        roles, _ = _authorization_details(_iam(ctx), ["Role"])
        found: dict[str, ReadResult] = {}
        for role in roles:
            name = role.get("RoleName", "")
            if name not in wanted:
                continue
            # managed_policies is not read back: iam.Policy resources attach themselves to
            # the role too, so the attached list is not the role's own property.
            # description and max_session_duration are not read back either: the batch
            # API does not return them (GetRole would be a call per role).
            props: dict[str, Any] = {"role_name": name, "path": role.get("Path", "/")}
            principal = _principal_of(_document(role.get("AssumeRolePolicyDocument")))
            if principal is not None:
                props["assumed_by"] = principal
            found[name] = ReadResult(
                properties=props,
                attributes={"id": name, "arn": role.get("Arn", ""), "name": name},
                tags=_tag_dict(role.get("Tags")),
            )
        return found

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        iam = _iam(ctx)
        if old.get("description") != new.get("description") or old.get(
            "max_session_duration"
        ) != new.get("max_session_duration"):
            iam.update_role(
                RoleName=physical_id,
                Description=new.get("description") or "",
                MaxSessionDuration=int(new.get("max_session_duration", 3600)),
            )
        before = set(old.get("managed_policies", []))
        after = set(new.get("managed_policies", []))
        for policy_arn in sorted(after - before):
            iam.attach_role_policy(RoleName=physical_id, PolicyArn=policy_arn)
        for policy_arn in sorted(before - after):
            with _ignore_no_such_entity():
                iam.detach_role_policy(RoleName=physical_id, PolicyArn=policy_arn)
        changed, removed = _tag_changes(ctx, old, new)
        if removed:
            iam.untag_role(RoleName=physical_id, TagKeys=removed)
        if changed:
            iam.tag_role(RoleName=physical_id, Tags=changed)
        role = iam.get_role(RoleName=physical_id)["Role"]
        return UpdateResult({"id": physical_id, "arn": role["Arn"], "name": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        iam = _iam(ctx)
        with _ignore_no_such_entity():
            for policy_arn in _attached_policies(iam, physical_id):
                with _ignore_no_such_entity():
                    iam.detach_role_policy(RoleName=physical_id, PolicyArn=policy_arn)
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=physical_id):
                for policy_name in page.get("PolicyNames", []):
                    with _ignore_no_such_entity():
                        iam.delete_role_policy(RoleName=physical_id, PolicyName=policy_name)
            paginator = iam.get_paginator("list_instance_profiles_for_role")
            for profiles in paginator.paginate(RoleName=physical_id):
                for profile in profiles.get("InstanceProfiles", []):
                    with _ignore_no_such_entity():
                        iam.remove_role_from_instance_profile(
                            InstanceProfileName=profile["InstanceProfileName"],
                            RoleName=physical_id,
                        )
            iam.delete_role(RoleName=physical_id)


def _is_ours(ctx: HandlerContext, tags: Mapping[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in ctx.tags.items())


def _attached_policies(iam: IAMClient, role_name: str) -> list[str]:
    arns: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        arns.extend(p["PolicyArn"] for p in page.get("AttachedPolicies", []) if "PolicyArn" in p)
    return arns


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
    # No batch IAM call returns a managed policy's tags; read does not report them.
    reads_tags: ClassVar[bool] = False

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        iam = _iam(ctx)
        params: dict[str, Any] = {
            "PolicyName": props.get("policy_name") or ctx.physical_name(128),
            "PolicyDocument": policy_document(props.get("statements", [])),
            "Tags": _tag_list(ctx.merged_tags(props)),
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
        roles, policies = _authorization_details(_iam(ctx), ["Role", "LocalManagedPolicy"])
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
                "statements": _statements_of(_document(document)),
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
        iam = _iam(ctx)
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
            with _ignore_no_such_entity():
                iam.detach_role_policy(RoleName=role, PolicyArn=physical_id)
        changed, removed = _tag_changes(ctx, old, new)
        if removed:
            iam.untag_policy(PolicyArn=physical_id, TagKeys=removed)
        if changed:
            iam.tag_policy(PolicyArn=physical_id, Tags=changed)
        return UpdateResult({"id": physical_id, "arn": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        iam = _iam(ctx)
        with _ignore_no_such_entity():
            paginator = iam.get_paginator("list_entities_for_policy")
            for page in paginator.paginate(PolicyArn=physical_id):
                for role in page.get("PolicyRoles", []):
                    with _ignore_no_such_entity():
                        iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=physical_id)
                for user in page.get("PolicyUsers", []):
                    with _ignore_no_such_entity():
                        iam.detach_user_policy(UserName=user["UserName"], PolicyArn=physical_id)
                for group in page.get("PolicyGroups", []):
                    with _ignore_no_such_entity():
                        iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=physical_id)
            for version in iam.list_policy_versions(PolicyArn=physical_id).get("Versions", []):
                if not version.get("IsDefaultVersion"):
                    iam.delete_policy_version(PolicyArn=physical_id, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=physical_id)


class InstanceProfileHandler:
    """An instance profile holding one role; the profile name is its id."""

    type_name: ClassVar[str] = "aws.iam.InstanceProfile"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        iam = _iam(ctx)
        name = props.get("profile_name") or ctx.physical_name(128)
        profile = iam.create_instance_profile(
            InstanceProfileName=name, Tags=_tag_list(ctx.merged_tags(props))
        )["InstanceProfile"]
        try:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=props["role"])
        except BaseException:
            self.delete(ctx, name, props)
            raise
        return CreateResult(name, {"id": name, "arn": profile["Arn"], "name": name})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        wanted = set(physical_ids)
        profiles: list[InstanceProfileTypeDef] = []
        paginator = _iam(ctx).get_paginator("list_instance_profiles")
        for page in paginator.paginate(PaginationConfig={"PageSize": _PAGE_SIZE}):
            profiles.extend(
                p
                for p in page.get("InstanceProfiles", [])
                if p.get("InstanceProfileName") in wanted
            )
        found: dict[str, ReadResult] = {}
        for profile in profiles:
            name = profile["InstanceProfileName"]
            props: dict[str, Any] = {"profile_name": name}
            roles = profile.get("Roles", [])
            if roles:
                props["role"] = roles[0]["RoleName"]
            # AWS's listing may leave tags out (ListInstanceProfileTags would be a call
            # per profile): they are then empty.
            found[name] = ReadResult(
                properties=props,
                attributes={"id": name, "arn": profile["Arn"], "name": name},
                tags=_tag_dict(profile.get("Tags")),
            )
        return found

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        iam = _iam(ctx)
        if old.get("role") != new.get("role"):
            current = iam.get_instance_profile(InstanceProfileName=physical_id)
            for role in current["InstanceProfile"].get("Roles", []):
                iam.remove_role_from_instance_profile(
                    InstanceProfileName=physical_id, RoleName=role["RoleName"]
                )
            iam.add_role_to_instance_profile(InstanceProfileName=physical_id, RoleName=new["role"])
        changed, removed = _tag_changes(ctx, old, new)
        if removed:
            iam.untag_instance_profile(InstanceProfileName=physical_id, TagKeys=removed)
        if changed:
            iam.tag_instance_profile(InstanceProfileName=physical_id, Tags=changed)
        profile = iam.get_instance_profile(InstanceProfileName=physical_id)["InstanceProfile"]
        return UpdateResult({"id": physical_id, "arn": profile["Arn"], "name": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        iam = _iam(ctx)
        with _ignore_no_such_entity():
            profile = iam.get_instance_profile(InstanceProfileName=physical_id)
            for role in profile["InstanceProfile"].get("Roles", []):
                with _ignore_no_such_entity():
                    iam.remove_role_from_instance_profile(
                        InstanceProfileName=physical_id, RoleName=role["RoleName"]
                    )
            iam.delete_instance_profile(InstanceProfileName=physical_id)
