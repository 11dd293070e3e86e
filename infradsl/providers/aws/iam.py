"""Handlers for IAM: roles and instance profiles (managed policies are in `iam_policy`).

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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from infradsl.providers.aws._iamutil import (
    PAGE_SIZE,
    authorization_details,
    created_by,
    decode_document,
    iam_client,
    ignore_no_such_entity,
    is_no_such_entity,
    is_ours,
    stack_paths,
    tag_changes,
    tag_dict,
    tag_list,
)
from infradsl.providers.aws._lookup import RoleLookup
from infradsl.providers.aws.iam_policy import PolicyHandler, policy_document
from infradsl.providers.handler import CreateResult, HandlerContext, ReadResult, UpdateResult

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_iam.type_defs import InstanceProfileTypeDef

__all__ = [
    "InstanceProfileHandler",
    "PolicyHandler",
    "RoleHandler",
    "policy_document",
    "trust_policy",
]


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


class RoleHandler(RoleLookup):
    """An IAM role with its trust policy and managed policies; the role name is its id."""

    type_name: ClassVar[str] = "aws.iam.Role"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        iam = iam_client(ctx)
        name = props.get("role_name") or ctx.physical_name(64)
        params: dict[str, Any] = {
            "RoleName": name,
            "Path": props.get("path", "/"),
            "AssumeRolePolicyDocument": trust_policy(props["assumed_by"]),
            "MaxSessionDuration": int(props.get("max_session_duration", 3600)),
            "Tags": tag_list(ctx.merged_tags(props)),
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
            if not is_ours(ctx, tag_dict(role.get("Tags"))):
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
        roles, _ = authorization_details(iam_client(ctx), ["Role"])
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
            principal = _principal_of(decode_document(role.get("AssumeRolePolicyDocument")))
            if principal is not None:
                props["assumed_by"] = principal
            found[name] = ReadResult(
                properties=props,
                attributes={"id": name, "arn": role.get("Arn", ""), "name": name},
                tags=tag_dict(role.get("Tags")),
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
            with ignore_no_such_entity():
                iam.detach_role_policy(RoleName=physical_id, PolicyArn=policy_arn)
        changed, removed = tag_changes(ctx, old, new)
        if removed:
            iam.untag_role(RoleName=physical_id, TagKeys=removed)
        if changed:
            iam.tag_role(RoleName=physical_id, Tags=changed)
        role = iam.get_role(RoleName=physical_id)["Role"]
        return UpdateResult({"id": physical_id, "arn": role["Arn"], "name": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        iam = iam_client(ctx)
        with ignore_no_such_entity():
            for policy_arn in _attached_policies(iam, physical_id):
                with ignore_no_such_entity():
                    iam.detach_role_policy(RoleName=physical_id, PolicyArn=policy_arn)
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=physical_id):
                for policy_name in page.get("PolicyNames", []):
                    with ignore_no_such_entity():
                        iam.delete_role_policy(RoleName=physical_id, PolicyName=policy_name)
            paginator = iam.get_paginator("list_instance_profiles_for_role")
            for profiles in paginator.paginate(RoleName=physical_id):
                for profile in profiles.get("InstanceProfiles", []):
                    with ignore_no_such_entity():
                        iam.remove_role_from_instance_profile(
                            InstanceProfileName=profile["InstanceProfileName"],
                            RoleName=physical_id,
                        )
            iam.delete_role(RoleName=physical_id)

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """GetRole by the name create would use; adopted only if its token tag is this one."""
        name = props.get("role_name") or ctx.physical_name(64)
        try:
            role = iam_client(ctx).get_role(RoleName=name)["Role"]
        except ClientError as error:
            if is_no_such_entity(error):
                return None
            raise
        if not created_by(ctx, tag_dict(role.get("Tags"))):
            return None
        return CreateResult(name, {"id": name, "arn": role["Arn"], "name": name})

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """GetAccountAuthorizationDetails (roles, with their tags): one call per page."""
        roles, _ = authorization_details(iam_client(ctx), ["Role"])
        listed = [
            (role.get("RoleName", ""), role.get("RoleName", ""), tag_dict(role.get("Tags")))
            for role in roles
        ]
        return stack_paths(ctx, listed, lambda _name: None)


def _attached_policies(iam: IAMClient, role_name: str) -> list[str]:
    arns: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        arns.extend(p["PolicyArn"] for p in page.get("AttachedPolicies", []) if "PolicyArn" in p)
    return arns


class InstanceProfileHandler:
    """An instance profile holding one role; the profile name is its id."""

    type_name: ClassVar[str] = "aws.iam.InstanceProfile"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        iam = iam_client(ctx)
        name = props.get("profile_name") or ctx.physical_name(128)
        profile = iam.create_instance_profile(
            InstanceProfileName=name, Tags=tag_list(ctx.merged_tags(props))
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
        paginator = iam_client(ctx).get_paginator("list_instance_profiles")
        for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
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
                tags=tag_dict(profile.get("Tags")),
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
        if old.get("role") != new.get("role"):
            current = iam.get_instance_profile(InstanceProfileName=physical_id)
            for role in current["InstanceProfile"].get("Roles", []):
                iam.remove_role_from_instance_profile(
                    InstanceProfileName=physical_id, RoleName=role["RoleName"]
                )
            iam.add_role_to_instance_profile(InstanceProfileName=physical_id, RoleName=new["role"])
        changed, removed = tag_changes(ctx, old, new)
        if removed:
            iam.untag_instance_profile(InstanceProfileName=physical_id, TagKeys=removed)
        if changed:
            iam.tag_instance_profile(InstanceProfileName=physical_id, Tags=changed)
        profile = iam.get_instance_profile(InstanceProfileName=physical_id)["InstanceProfile"]
        return UpdateResult({"id": physical_id, "arn": profile["Arn"], "name": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        iam = iam_client(ctx)
        with ignore_no_such_entity():
            profile = iam.get_instance_profile(InstanceProfileName=physical_id)
            for role in profile["InstanceProfile"].get("Roles", []):
                with ignore_no_such_entity():
                    iam.remove_role_from_instance_profile(
                        InstanceProfileName=physical_id, RoleName=role["RoleName"]
                    )
            iam.delete_instance_profile(InstanceProfileName=physical_id)

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """GetInstanceProfile by the name create would use; adopted only if its token tag is
        this one."""
        name = props.get("profile_name") or ctx.physical_name(128)
        profile = _get_profile(iam_client(ctx), name)
        if profile is None or not created_by(ctx, tag_dict(profile.get("Tags"))):
            return None
        return CreateResult(name, {"id": name, "arn": profile["Arn"], "name": name})

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """ListInstanceProfiles (one call per page); where the listing leaves tags out (AWS
        does), GetInstanceProfile for each profile named ``<stack>-...``."""
        iam = iam_client(ctx)
        listed: list[tuple[str, str, Mapping[str, str] | None]] = []
        paginator = iam.get_paginator("list_instance_profiles")
        for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            for profile in page.get("InstanceProfiles", []):
                name = profile["InstanceProfileName"]
                tags = tag_dict(profile["Tags"]) if "Tags" in profile else None
                listed.append((name, name, tags))

        def fetch_tags(name: str) -> Mapping[str, str] | None:
            profile = _get_profile(iam, name)
            return None if profile is None else tag_dict(profile.get("Tags"))

        return stack_paths(ctx, listed, fetch_tags)


def _get_profile(iam: IAMClient, name: str) -> InstanceProfileTypeDef | None:
    """GetInstanceProfile (its answer has the profile's tags), or None if there is none."""
    try:
        return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except ClientError as error:
        if is_no_such_entity(error):
            return None
        raise
