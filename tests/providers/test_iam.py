"""The IAM handlers (roles, managed policies, instance profiles) against the local cloud."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.iam import (
    InstanceProfileHandler,
    PolicyHandler,
    RoleHandler,
    trust_policy,
)
from infradsl.providers.handler import HandlerContext, ResourceHandler
from infradsl.testing.plugin import LocalCloudFixture


@pytest.fixture
def managed(local_cloud: LocalCloudFixture) -> tuple[str, str]:
    """Two managed policies of the account to attach (AWS's own are tested elsewhere)."""
    iam = local_cloud.client("iam")
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [statement("s3:GetObject", caps=True)]}
    )
    return (
        iam.create_policy(PolicyName="ssm", PolicyDocument=document)["Policy"]["Arn"],
        iam.create_policy(PolicyName="read-only", PolicyDocument=document)["Policy"]["Arn"],
    )


def context(cloud: LocalCloudFixture, path: str) -> HandlerContext:
    return HandlerContext(
        stack="test", path=path, region="us-east-1", clients=Clients("us-east-1", cloud.endpoint)
    )


class Calls:
    """A botocore hook recording each call as ``service.Operation``."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, event_name: str, params: Any, **_: Any) -> None:
        self.made.append(event_name.split(".", 1)[1])


def calls_to_read(cloud: LocalCloudFixture, handler: ResourceHandler, ids: list[str]) -> list[str]:
    """The calls ``handler.read`` makes for ``ids`` (all of which must be found)."""
    calls = Calls()
    clients = Clients("us-east-1", cloud.endpoint, hooks=[("before-parameter-build", calls)])
    ctx = HandlerContext(stack="test", path="", region="us-east-1", clients=clients)
    assert set(handler.read(ctx, ids)) == set(ids)
    return calls.made


def role_props(**extra: Any) -> dict[str, Any]:
    return {
        "assumed_by": "ec2.amazonaws.com",
        "managed_policies": [],
        "description": "web servers",
        "max_session_duration": 3600,
        "path": "/",
        "tags": {"team": "web"},
        **extra,
    }


def statement(
    *actions: str, resource: str = "arn:aws:s3:::logs/*", caps: bool = False
) -> dict[str, Any]:
    if caps:
        return {"Action": list(actions), "Effect": "Allow", "Resource": [resource]}
    return {"actions": list(actions), "effect": "Allow", "resources": [resource]}


def test_role_handler_passes_the_conformance_suite(
    local_cloud: LocalCloudFixture, managed: tuple[str, str]
) -> None:
    check_handler(
        RoleHandler(),
        context(local_cloud, "WebRole"),
        role_props(managed_policies=[managed[0]]),
        role_props(
            managed_policies=[managed[1]],
            description="web tier",
            max_session_duration=7200,
            tags={"owner": "ops"},
        ),
    )


def test_a_role_trusts_its_service_and_keeps_system_tags_when_user_tags_change(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud, "WebRole")
    handler = RoleHandler()
    created = handler.create(ctx, role_props())
    name = created.physical_id
    assert name == ctx.physical_name(64)
    assert created.attributes == {
        "id": name,
        "name": name,
        "arn": f"arn:aws:iam::123456789012:role/{name}",
    }
    new = role_props(tags={"owner": "ops"}, description="web tier", max_session_duration=7200)
    handler.update(ctx, name, role_props(), new)
    live = handler.read(ctx, [name])[name]
    assert live.properties == {"role_name": name, "path": "/", "assumed_by": "ec2.amazonaws.com"}
    assert dict(live.tags) == {**ctx.tags, "owner": "ops"}
    # Not read back (the batch read does not return them), but updated all the same.
    role = local_cloud.client("iam").get_role(RoleName=name)["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("web tier", 7200)


def test_trust_policies_name_services_and_accounts() -> None:
    service = json.loads(trust_policy("ec2.amazonaws.com"))["Statement"][0]
    account = json.loads(trust_policy("123456789012"))["Statement"][0]
    assert service["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert account["Principal"] == {"AWS": "123456789012"}
    assert service["Action"] == "sts:AssumeRole"


def test_deleting_a_role_detaches_policies_removes_inline_ones_and_leaves_its_profile(
    local_cloud: LocalCloudFixture, managed: tuple[str, str]
) -> None:
    iam = local_cloud.client("iam")
    roles = RoleHandler()
    role_ctx = context(local_cloud, "WebRole")
    name = roles.create(role_ctx, role_props(managed_policies=list(managed))).physical_id
    policy = PolicyHandler().create(
        context(local_cloud, "WebRole/DefaultPolicy"),
        {"statements": [statement("s3:GetObject")], "roles": [name]},
    )
    document = {"Version": "2012-10-17", "Statement": [statement("s3:GetObject", caps=True)]}
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(document))
    profile = InstanceProfileHandler().create(
        context(local_cloud, "WebRole/Profile"), {"role": name}
    )

    roles.delete(role_ctx, name, role_props())

    assert roles.read(role_ctx, [name]) == {}
    live = iam.get_instance_profile(InstanceProfileName=profile.physical_id)["InstanceProfile"]
    assert live["Roles"] == []
    for arn in (policy.physical_id, *managed):
        assert iam.list_entities_for_policy(PolicyArn=arn)["PolicyRoles"] == []
    roles.delete(role_ctx, name, role_props())  # already gone: not an error


def test_policy_handler_passes_the_conformance_suite(local_cloud: LocalCloudFixture) -> None:
    roles = RoleHandler()
    first = roles.create(context(local_cloud, "A"), role_props()).physical_id
    second = roles.create(context(local_cloud, "B"), role_props()).physical_id
    props = {"statements": [statement("s3:GetObject")], "roles": [first], "tags": {}}
    check_handler(
        PolicyHandler(),
        context(local_cloud, "A/DefaultPolicy"),
        props,
        {
            **props,
            "statements": [statement("s3:GetObject", "s3:PutObject")],
            "roles": [second],
        },
        tags_readable=False,
    )


def test_a_policy_reads_back_its_statements_roles_and_description_but_not_its_tags(
    local_cloud: LocalCloudFixture,
) -> None:
    roles = RoleHandler()
    first = roles.create(context(local_cloud, "A"), role_props()).physical_id
    second = roles.create(context(local_cloud, "B"), role_props()).physical_id
    ctx = context(local_cloud, "A/DefaultPolicy")
    handler = PolicyHandler()
    props = {
        "statements": [statement("s3:GetObject")],
        "roles": [first],
        "policy_name": "readers",
        "description": "read the logs",
    }
    arn = handler.create(ctx, props).physical_id
    live = handler.read(ctx, [arn])[arn]
    assert live.properties == props
    assert live.attributes == {"id": arn, "arn": arn}
    assert live.tags is None  # ListPolicyTags would be a call per policy
    tags = local_cloud.client("iam").list_policy_tags(PolicyArn=arn)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == ctx.tags

    new = {**props, "statements": [statement("s3:PutObject")], "roles": [first, second]}
    handler.update(ctx, arn, props, new)
    after = handler.read(ctx, [arn])[arn].properties
    assert after["statements"] == new["statements"]
    assert after["roles"] == sorted([first, second])
    handler.delete(ctx, arn, new)
    assert handler.read(ctx, [arn]) == {}
    handler.delete(ctx, arn, new)


def test_a_policy_updated_many_times_keeps_at_most_five_versions(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud, "Readers")
    handler = PolicyHandler()
    old: dict[str, Any] = {"statements": [statement("s3:GetObject")], "roles": []}
    arn = handler.create(ctx, old).physical_id
    for index in range(7):
        new = {**old, "statements": [statement("s3:GetObject", resource=f"arn:aws:s3:::b{index}")]}
        handler.update(ctx, arn, old, new)
        old = new
    versions = local_cloud.client("iam").list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5
    live = handler.read(ctx, [arn])[arn]
    assert live.properties["statements"] == old["statements"]
    handler.delete(ctx, arn, old)
    assert handler.read(ctx, [arn]) == {}


def test_instance_profile_handler_passes_the_conformance_suite(
    local_cloud: LocalCloudFixture,
) -> None:
    roles = RoleHandler()
    first = roles.create(context(local_cloud, "A"), role_props()).physical_id
    second = roles.create(context(local_cloud, "B"), role_props()).physical_id
    pid = check_handler(
        InstanceProfileHandler(),
        context(local_cloud, "A/Profile"),
        {"role": first, "profile_name": "web-profile"},
        {"role": second, "profile_name": "web-profile", "tags": {"a": "b"}},
    )
    assert pid == "web-profile"


def test_a_role_whose_managed_policy_cannot_be_attached_is_not_left_behind(
    local_cloud: LocalCloudFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The policy never appears: the wait for it to become visible ends sooner than 60 s.
    monkeypatch.setattr("infradsl.providers.aws.clients.CONSISTENCY_TIMEOUT", 2.0)
    ctx = context(local_cloud, "WebRole")
    missing = "arn:aws:iam::123456789012:policy/missing"
    with pytest.raises(Exception, match="NoSuchEntity"):
        RoleHandler().create(ctx, role_props(managed_policies=[missing]))
    assert local_cloud.client("iam").list_roles()["Roles"] == []


def test_reading_many_roles_makes_the_same_calls_as_reading_one(
    local_cloud: LocalCloudFixture,
) -> None:
    handler = RoleHandler()
    names = [
        handler.create(context(local_cloud, f"R{i}"), role_props()).physical_id for i in range(5)
    ]
    assert calls_to_read(local_cloud, handler, names[:1]) == ["iam.GetAccountAuthorizationDetails"]
    assert calls_to_read(local_cloud, handler, names) == ["iam.GetAccountAuthorizationDetails"]
    assert calls_to_read(local_cloud, handler, []) == []


def test_reading_many_policies_makes_the_same_calls_as_reading_one(
    local_cloud: LocalCloudFixture,
) -> None:
    role = RoleHandler().create(context(local_cloud, "R"), role_props()).physical_id
    handler = PolicyHandler()
    arns = [
        handler.create(
            context(local_cloud, f"R/Policy{i}"),
            {"statements": [statement("s3:GetObject")], "roles": [role]},
        ).physical_id
        for i in range(5)
    ]
    assert calls_to_read(local_cloud, handler, arns[:1]) == ["iam.GetAccountAuthorizationDetails"]
    assert calls_to_read(local_cloud, handler, arns) == ["iam.GetAccountAuthorizationDetails"]


def test_reading_many_instance_profiles_makes_the_same_calls_as_reading_one(
    local_cloud: LocalCloudFixture,
) -> None:
    role = RoleHandler().create(context(local_cloud, "R"), role_props()).physical_id
    handler = InstanceProfileHandler()
    names = [
        handler.create(context(local_cloud, f"R/Profile{i}"), {"role": role}).physical_id
        for i in range(5)
    ]
    assert calls_to_read(local_cloud, handler, names[:1]) == ["iam.ListInstanceProfiles"]
    assert calls_to_read(local_cloud, handler, names) == ["iam.ListInstanceProfiles"]


def test_find_does_not_adopt_what_another_lineage_made(local_cloud: LocalCloudFixture) -> None:
    """Same stack, path and explicit name, another state: not found (the token differs)."""
    role = RoleHandler().create(context(local_cloud, "R"), role_props()).physical_id
    cases: list[tuple[Any, str, dict[str, Any]]] = [
        (RoleHandler(), "WebRole", role_props(role_name="web")),
        (
            PolicyHandler(),
            "Readers",
            {"statements": [statement("s3:GetObject")], "policy_name": "readers"},
        ),
        (InstanceProfileHandler(), "Profile", {"role": role, "profile_name": "web-profile"}),
    ]
    for handler, path, props in cases:
        ctx = context(local_cloud, path)
        pid = handler.create(ctx, props).physical_id
        assert handler.find(attrs.evolve(ctx, lineage="other"), props) is None, path
        found = handler.find(ctx, props)
        assert found is not None and found.physical_id == pid, path


def test_list_stack_finds_the_stacks_roles_policies_and_profiles(
    local_cloud: LocalCloudFixture,
) -> None:
    role = RoleHandler().create(context(local_cloud, "R"), role_props()).physical_id
    policy = PolicyHandler().create(
        context(local_cloud, "R/Policy"), {"statements": [statement("s3:GetObject")]}
    )
    profile = InstanceProfileHandler().create(context(local_cloud, "R/Profile"), {"role": role})
    other = HandlerContext(
        stack="other",
        path="R",
        region="us-east-1",
        clients=Clients("us-east-1", local_cloud.endpoint),
    )
    RoleHandler().create(other, role_props())
    PolicyHandler().create(other, {"statements": [statement("s3:GetObject")]})
    ctx = context(local_cloud, "")
    assert RoleHandler().list_stack(ctx) == {role: "R"}
    assert PolicyHandler().list_stack(ctx) == {policy.physical_id: "R/Policy"}
    assert InstanceProfileHandler().list_stack(ctx) == {profile.physical_id: "R/Profile"}
