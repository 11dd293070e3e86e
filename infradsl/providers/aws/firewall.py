"""Handlers for security groups and their standalone rules.

A resolved rule is ``{"protocol": "tcp"|"udp"|"icmp"|"all", "from_port": int, "to_port": int,
"source": "<cidr>" | "sg-..." | "pl-...", "description": str}`` (``description`` absent
when unset). Reads return rules in that form, one per source, sorted; an ``all`` rule
reads back with ports 0..65535 (as `infradsl.aws.ec2.Rule.all_traffic` writes it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import ClientError

from infradsl.aws.ec2 import SecurityGroup
from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import (
    arn,
    describe_ids,
    ec2_client,
    error_code,
    ignore_not_found,
    retry_while_in_use,
    sync_tags,
    tag_specifications,
    tags_of,
    undo_on_failure,
)
from infradsl.providers.aws._lookup import SecurityGroupLookup
from infradsl.providers.handler import (
    CreateResult,
    HandlerContext,
    ReadResult,
    ResourceNotFoundError,
    UpdateResult,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef

__all__ = ["SecurityGroupHandler", "SecurityGroupRuleHandler"]

# What AWS puts in a new group's egress; ``egress`` absent (None) means "keep this".
DEFAULT_EGRESS: dict[str, Any] = {
    "protocol": "all",
    "from_port": 0,
    "to_port": 65535,
    "source": "0.0.0.0/0",
}

# A rule's identity in AWS: everything but the description.
_Key = tuple[str, int, int, str]


def _key(rule: Mapping[str, Any]) -> _Key:
    if rule["protocol"] == "all":
        return ("all", 0, 65535, rule["source"])
    return (rule["protocol"], int(rule["from_port"]), int(rule["to_port"]), rule["source"])


def _normalized(rules: Iterable[Mapping[str, Any]] | None) -> dict[_Key, dict[str, Any]]:
    """Rules by identity (the first of duplicates wins: AWS refuses duplicates)."""
    out: dict[_Key, dict[str, Any]] = {}
    for rule in rules or ():
        key = _key(rule)
        if key not in out:
            out[key] = {
                "protocol": key[0],
                "from_port": key[1],
                "to_port": key[2],
                "source": key[3],
                **({"description": rule["description"]} if rule.get("description") else {}),
            }
    return out


def _sorted(rules: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rules, key=lambda r: (*_key(r), r.get("description", "")))


def to_permission(rule: Mapping[str, Any]) -> IpPermissionTypeDef:
    """The ``IpPermissions`` entry of one resolved rule."""
    permission: dict[str, Any] = {"IpProtocol": "-1"}
    if rule["protocol"] != "all":
        permission = {
            "IpProtocol": rule["protocol"],
            "FromPort": int(rule["from_port"]),
            "ToPort": int(rule["to_port"]),
        }
    source = str(rule["source"])
    extra = {"Description": rule["description"]} if rule.get("description") else {}
    if source.startswith("sg-"):
        permission["UserIdGroupPairs"] = [{"GroupId": source, **extra}]
    elif source.startswith("pl-"):
        permission["PrefixListIds"] = [{"PrefixListId": source, **extra}]
    elif ":" in source:
        permission["Ipv6Ranges"] = [{"CidrIpv6": source, **extra}]
    else:
        permission["IpRanges"] = [{"CidrIp": source, **extra}]
    return cast("IpPermissionTypeDef", permission)


def from_rule_description(rule: Mapping[str, Any]) -> dict[str, Any] | None:
    """A resolved rule from one DescribeSecurityGroupRules item (None if not expressible)."""
    source = (
        rule.get("CidrIpv4")
        or rule.get("CidrIpv6")
        or rule.get("PrefixListId")
        or rule.get("ReferencedGroupInfo", {}).get("GroupId")
    )
    protocol = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(
        rule["IpProtocol"], rule["IpProtocol"]
    )
    if source is None or protocol not in ("tcp", "udp", "icmp", "all"):
        return None
    out = {
        "protocol": protocol,
        "from_port": rule.get("FromPort", -1),
        "to_port": rule.get("ToPort", -1),
        "source": source,
    }
    if rule.get("Description"):
        out["description"] = rule["Description"]
    return _normalized([out])[_key(out)]


def _authorize(
    ec2: EC2Client, group_id: str, egress: bool, rules: Iterable[Mapping[str, Any]], **kw: Any
) -> list[Any]:
    """Add ``rules`` in one call; returns the created SecurityGroupRules (as AWS reports them)."""
    permissions = [to_permission(rule) for rule in rules]
    if not permissions:
        return []
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    return list(
        call(GroupId=group_id, IpPermissions=permissions, **kw).get("SecurityGroupRules", [])
    )


def _wanted(props: Mapping[str, Any], direction: str) -> dict[_Key, dict[str, Any]]:
    rules = props.get(direction)
    if direction == "egress" and rules is None:
        rules = [DEFAULT_EGRESS]
    return _normalized(rules)


_SOURCES = (
    ("IpRanges", "CidrIp"),
    ("Ipv6Ranges", "CidrIpv6"),
    ("UserIdGroupPairs", "GroupId"),
    ("PrefixListIds", "PrefixListId"),
)


def _rule_items(
    ec2: EC2Client,
    id_name: str,
    ids: Sequence[str],
    groups: Iterable[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """DescribeSecurityGroupRules by ``id_name``, descriptions filled in from the groups.

    moto leaves out the description of rules whose source is a group or a prefix list;
    DescribeSecurityGroups has it (the groups are described only when needed).
    """
    rules = describe_ids(ec2, "describe_security_group_rules", "SecurityGroupRules", id_name, ids)
    items = [dict(item) for item in rules]
    bare = [item for item in items if not item.get("Description")]
    if not bare:
        return items
    if groups is None:
        ids = sorted({item["GroupId"] for item in bare})
        groups = describe_ids(ec2, "describe_security_groups", "SecurityGroups", "group-id", ids)
    known: dict[tuple[str, bool, _Key], str] = {}
    for group in groups:
        for egress, field in ((False, "IpPermissions"), (True, "IpPermissionsEgress")):
            for perm in group.get(field, ()):
                for kind, id_key in _SOURCES:
                    for entry in perm.get(kind, ()):
                        rule = from_rule_description({**perm, "CidrIpv4": entry.get(id_key)})
                        if rule is not None and entry.get("Description"):
                            known[(group["GroupId"], egress, _key(rule))] = entry["Description"]
    for item in bare:
        rule = from_rule_description(item)
        found = rule and known.get((item["GroupId"], bool(item.get("IsEgress")), _key(rule)))
        if found:
            item["Description"] = found
    return items


def _inline_rules(
    items: Iterable[Mapping[str, Any]], group_id: str, group_path: str | None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Direction -> rule id -> resolved rule, for the group's own (inline) rules.

    Rules of standalone SecurityGroupRule resources are tagged with their own path and
    left out, so the group neither reports nor revokes them.
    """
    observed: dict[str, dict[str, dict[str, Any]]] = {"ingress": {}, "egress": {}}
    for item in items:
        owner = tags_of(item.get("Tags")).get("infradsl:path")
        if item["GroupId"] != group_id or owner not in (None, group_path):
            continue
        rule = from_rule_description(item)
        if rule is not None:
            direction = "egress" if item.get("IsEgress") else "ingress"
            observed[direction][item["SecurityGroupRuleId"]] = rule
    return observed


def _converge_rules(
    ec2: EC2Client, group_id: str, group_path: str | None, new: Mapping[str, Any]
) -> None:
    """Revoke the live inline rules ``new`` does not declare, then authorize the missing ones.

    Diffs against the live rules, so rules changed by hand are put back too. A rule whose
    description changed is revoked and re-added.
    """
    live = _inline_rules(_rule_items(ec2, "group-id", [group_id]), group_id, group_path)
    for direction in ("ingress", "egress"):
        egress = direction == "egress"
        wanted = list(_wanted(new, direction).values())
        stale = [rule_id for rule_id, rule in live[direction].items() if rule not in wanted]
        if stale:
            revoke = (
                ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
            )
            with ignore_not_found():
                revoke(GroupId=group_id, SecurityGroupRuleIds=stale)
        have = list(live[direction].values())
        _authorize(ec2, group_id, egress, [rule for rule in wanted if rule not in have])


def _apply_difference(
    ec2: EC2Client, group_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> None:
    """Revoke the rules of ``old`` that ``new`` drops, authorize those it adds: one call per
    direction and kind, for a group known to hold exactly ``old``."""
    for direction in ("ingress", "egress"):
        egress = direction == "egress"
        before, after = _wanted(old, direction), _wanted(new, direction)
        gone = [rule for key, rule in before.items() if after.get(key) != rule]
        if gone:
            revoke = (
                ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
            )
            with ignore_not_found():
                revoke(GroupId=group_id, IpPermissions=[to_permission(r) for r in gone])
        _authorize(
            ec2, group_id, egress, [rule for key, rule in after.items() if before.get(key) != rule]
        )


def _initial_rules(ec2: EC2Client, group_id: str, props: Mapping[str, Any]) -> None:
    """Rules of a group just created: nothing to read, it has only AWS's default egress."""
    _authorize(ec2, group_id, False, list(_wanted(props, "ingress").values()))
    if props.get("egress") is not None:
        ec2.revoke_security_group_egress(
            GroupId=group_id,
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
        _authorize(ec2, group_id, True, list(_wanted(props, "egress").values()))


class SecurityGroupHandler(SecurityGroupLookup):
    """``aws.ec2.SecurityGroup``: the group with its inline ``ingress`` and ``egress`` rules.

    ``egress`` absent keeps AWS's default allow-all egress rule; a list replaces it.
    ``find`` looks a group up by its token tag, not by its name: the name may be an
    explicit one another state used too, the token is this creation's own.
    """

    type_name: ClassVar[str] = "aws.ec2.SecurityGroup"
    # The rules: a group exists (and has an id to wait for) without them; the engine may
    # create the group first and apply them in one update (see `HandlerContext.fresh`).
    deferrable: ClassVar[tuple[str, ...]] = SecurityGroup.__infradsl_deferrable__

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        group = ec2.create_security_group(
            GroupName=props.get("group_name") or ctx.physical_name(255),
            Description=props.get("description") or "Managed by infradsl",
            VpcId=props["vpc"],
            TagSpecifications=tag_specifications("security-group", ctx.merged_tags(props)),
        )
        pid = group["GroupId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            _initial_rules(ec2, pid, props)
        group_arn = group.get("SecurityGroupArn")
        if not group_arn:  # older endpoints leave it out; the owner account builds it
            owner = ec2.describe_security_groups(GroupIds=[pid])["SecurityGroups"][0]["OwnerId"]
            group_arn = arn(ctx.region, owner, "security-group", pid)
        return CreateResult(pid, {"id": pid, "arn": group_arn})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        ec2 = ec2_client(ctx)
        groups = self._read_ids(ec2, physical_ids)
        ids = [group["GroupId"] for group in groups]
        rules = _rule_items(ec2, "group-id", ids, groups)
        found: dict[str, ReadResult] = {}
        for group in groups:
            pid, tags = group["GroupId"], tags_of(group.get("Tags"))
            observed = _inline_rules(rules, pid, tags.get("infradsl:path"))
            found[pid] = ReadResult(
                properties={
                    "vpc": group.get("VpcId"),
                    "description": group["Description"],
                    "group_name": group["GroupName"],
                    "ingress": _sorted(observed["ingress"].values()),
                    "egress": _sorted(observed["egress"].values()),
                },
                attributes=self._attributes(ctx, group),
                tags=tags,
            )
        return found

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        if ctx.fresh:
            # Created by this run with exactly ``old``: apply the difference, no reads.
            _apply_difference(ec2, physical_id, old, new)
            sync_tags(ec2, physical_id, ctx, old, new)
            return UpdateResult({})
        group = self._get(ec2, physical_id)
        _converge_rules(ec2, physical_id, tags_of(group.get("Tags")).get("infradsl:path"), new)
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(self._attributes(ctx, group))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        for direction in ("ingress", "egress"):
            # AWS refuses to delete a group another group's rule names: groups that admit
            # each other first drop those rules, then either can go.
            peers = [
                rule
                for rule in props.get(direction) or ()
                if str(rule.get("source", "")).startswith("sg-")
                and rule.get("source") != physical_id
            ]
            if peers:
                revoke = (
                    ec2.revoke_security_group_egress
                    if direction == "egress"
                    else ec2.revoke_security_group_ingress
                )
                with ignore_not_found():
                    revoke(GroupId=physical_id, IpPermissions=[to_permission(r) for r in peers])
        with ignore_not_found():
            # An instance being terminated may still hold the group for a while.
            retry_while_in_use(lambda: ec2.delete_security_group(GroupId=physical_id))

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        pid = item["GroupId"]
        group_arn = item.get("SecurityGroupArn") or arn(
            ctx.region, item["OwnerId"], "security-group", pid
        )
        return {"id": pid, "arn": group_arn}


class SecurityGroupRuleHandler(Ec2Handler):
    """``aws.ec2.SecurityGroupRule``: one rule; its physical id is the ``sgr-...`` rule id.

    The rule is tagged with the system tags, so the group's read leaves it out of its
    inline rules and a retried creation can adopt it. Only such standalone rules are
    listed by ``list_stack``: a group's inline rules are not tagged.
    """

    type_name: ClassVar[str] = "aws.ec2.SecurityGroupRule"
    describe = Describe.of("SecurityGroupRule")

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        group, egress, rule = props["group"], props.get("direction") == "egress", props["rule"]
        try:
            created = _authorize(
                ec2,
                group,
                egress,
                [rule],
                TagSpecifications=tag_specifications("security-group-rule", ctx.tags),
            )
        except ClientError as error:
            if error_code(error) != "InvalidPermission.Duplicate":
                raise
            created = []  # maybe ours from a run that died: adopt it only if it is tagged so
        pid = next((r["SecurityGroupRuleId"] for r in created if _same(r, rule, egress)), None)
        if pid is None:
            found = self.find(ctx, props)
            if found is None:
                raise ResourceNotFoundError(
                    f"security group {group} has no rule {dict(rule)} created by {ctx.path}"
                )
            pid = found.physical_id
        return CreateResult(pid, {"id": pid})

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        items = _rule_items(ec2_client(ctx), "security-group-rule-id", physical_ids)
        return {
            item["SecurityGroupRuleId"]: ReadResult(
                properties={
                    "group": item["GroupId"],
                    "direction": "egress" if item.get("IsEgress") else "ingress",
                    "rule": from_rule_description(item),
                },
                attributes={"id": item["SecurityGroupRuleId"]},
                tags=tags_of(item.get("Tags")),
            )
            for item in items
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        return UpdateResult({"id": physical_id})  # every property replaces the rule

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        egress = props.get("direction") == "egress"
        call = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
        with ignore_not_found():
            call(GroupId=props["group"], SecurityGroupRuleIds=[physical_id])


def _same(item: Mapping[str, Any], rule: Mapping[str, Any], egress: bool) -> bool:
    observed = from_rule_description(item)
    return (
        bool(item.get("IsEgress")) == egress
        and observed is not None
        and _key(observed) == _key(rule)
    )
