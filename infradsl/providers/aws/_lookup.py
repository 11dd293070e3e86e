"""`LookupHandler.lookup` for the handlers of VPCs, subnets, security groups and roles.

EC2 types find the ids matching a query with one filtered describe call per page, then
read them with the handler's own ``read``, so a looked-up resource has exactly the values
a managed one of its type has. A role is found by name (one GetRole).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import describe_all, ec2_client, tags_of
from infradsl.providers.aws._iamutil import (
    decode_document,
    iam_client,
    is_no_such_entity,
    tag_dict,
)
from infradsl.providers.handler import HandlerContext, ReadResult

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef

__all__ = ["Ec2Lookup", "RoleLookup", "SecurityGroupLookup", "SubnetLookup", "VpcLookup"]


class Ec2Lookup(Ec2Handler):
    """An `Ec2Handler` with ``lookup`` by the filters of its describe operation.

    The handler sets ``_lookup_filters`` (criterion -> filter name); ``tags`` become
    ``tag:<key>`` filters (``*`` matches any text), and are checked again on the results:
    not every endpoint applies every filter.
    """

    _lookup_filters: ClassVar[Mapping[str, str]]

    def lookup(self, ctx: HandlerContext, query: Mapping[str, Any]) -> Mapping[str, ReadResult]:
        filters: list[FilterTypeDef] = []
        tags: Mapping[str, str] = query.get("tags") or {}
        for name, value in sorted(query.items()):
            if name == "tags":
                filters.extend({"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(tags.items()))
            elif isinstance(value, bool):
                filters.append({"Name": self._lookup_filters[name], "Values": [str(value).lower()]})
            else:
                filters.append({"Name": self._lookup_filters[name], "Values": [str(value)]})
        items = self._select(ec2_client(ctx), filters)
        ids = sorted(
            {
                self._id(item)
                for item in items
                if all(
                    fnmatch.fnmatchcase(tags_of(item.get("Tags")).get(k, "\0"), v)
                    for k, v in tags.items()
                )
            }
        )
        return self.read(ctx, ids) if ids else {}


class VpcLookup(Ec2Lookup):
    """`Ec2Lookup` for VPCs, with what DescribeVpcs alone does not say.

    A looked-up VPC also has ``cidr_blocks`` (every associated IPv4 range: a new subnet
    must lie in one) and, when exactly one VPC matched, its DNS settings (two calls).
    """

    describe = Describe.of("Vpc")
    _lookup_filters: ClassVar[Mapping[str, str]] = {
        "id": "vpc-id",
        "cidr_block": "cidr-block-association.cidr-block",
        "default": "is-default",
    }

    def lookup(self, ctx: HandlerContext, query: Mapping[str, Any]) -> Mapping[str, ReadResult]:
        found = super().lookup(ctx, query)
        if not found:
            return {}
        ec2 = ec2_client(ctx)
        vpcs = describe_all(ec2, "describe_vpcs", "Vpcs", VpcIds=sorted(found))
        ranges = {
            vpc["VpcId"]: sorted(
                a["CidrBlock"]
                for a in vpc.get("CidrBlockAssociationSet", [])
                if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
            )
            or [vpc["CidrBlock"]]
            for vpc in vpcs
        }
        out: dict[str, ReadResult] = {}
        for pid, result in found.items():
            extra: dict[str, Any] = {"cidr_blocks": ranges.get(pid, [])}
            if len(found) == 1:
                read = ec2.describe_vpc_attribute
                support = read(VpcId=pid, Attribute="enableDnsSupport")["EnableDnsSupport"]
                names = read(VpcId=pid, Attribute="enableDnsHostnames")["EnableDnsHostnames"]
                extra["enable_dns_support"] = bool(support.get("Value"))
                extra["enable_dns_hostnames"] = bool(names.get("Value"))
            out[pid] = ReadResult({**result.properties, **extra}, result.attributes, result.tags)
        return out


class SubnetLookup(Ec2Lookup):
    """`Ec2Lookup` for subnets."""

    describe = Describe.of("Subnet")
    _lookup_filters: ClassVar[Mapping[str, str]] = {
        "id": "subnet-id",
        "vpc": "vpc-id",
        "cidr_block": "cidr-block",
        "availability_zone": "availability-zone",
    }


class SecurityGroupLookup(Ec2Lookup):
    """`Ec2Lookup` for security groups."""

    describe = Describe.of(
        "SecurityGroup", id_key="GroupId", id_filter="group-id", ids_param="GroupIds"
    )
    _lookup_filters: ClassVar[Mapping[str, str]] = {
        "id": "group-id",
        "vpc": "vpc-id",
        "name": "group-name",
    }


class RoleLookup:
    """Mixin for the role handler: ``lookup`` by ``name`` or ``arn`` (GetRole, then
    ListAttachedRolePolicies)."""

    def lookup(self, ctx: HandlerContext, query: Mapping[str, Any]) -> Mapping[str, ReadResult]:
        from infradsl.providers.aws.iam import _principal_of

        iam = iam_client(ctx)
        name = query.get("name")
        arn = query.get("arn")
        if isinstance(arn, str):
            from_arn = arn.rsplit("/", 1)[-1]
            if name is not None and name != from_arn:
                return {}
            name = from_arn
        if not isinstance(name, str):
            return {}
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except ClientError as error:
            if is_no_such_entity(error):
                return {}
            raise
        if arn is not None and role["Arn"] != arn:
            return {}
        attached: list[str] = []
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            attached.extend(p["PolicyArn"] for p in page.get("AttachedPolicies", []))
        trust = decode_document(role.get("AssumeRolePolicyDocument"))
        props: dict[str, Any] = {
            "role_name": role["RoleName"],
            "path": role.get("Path", "/"),
            "description": role.get("Description"),
            "max_session_duration": role.get("MaxSessionDuration", 3600),
            "managed_policies": sorted(attached),
            "assumed_by": _principal_of(trust),
        }
        return {
            role["RoleName"]: ReadResult(
                properties=props,
                attributes={"id": role["RoleName"], "arn": role["Arn"], "name": role["RoleName"]},
                tags=tag_dict(role.get("Tags")),
            )
        }
