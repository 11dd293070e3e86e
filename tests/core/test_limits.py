"""AWS's limits are checked as infradsl would send the values: at the limit is accepted,
one over is refused, and references (unknown until deploy) are never guessed at."""

from __future__ import annotations

import json

from infradsl import App, Stack
from infradsl.aws import ec2, iam, s3
from infradsl.core._tags import MAX_USER_TAGS, SYSTEM_TAG_KEYS
from infradsl.providers.aws.iam import trust_policy
from infradsl.providers.aws.iam_policy import policy_document
from infradsl.providers.handler import TOKEN_TAG, system_tags
from infradsl.synth import validate


def aws_size(document: str) -> int:
    """What AWS counts: the characters of the document, whitespace excluded."""
    return len("".join(document.split()))


def messages(app: App) -> list[str]:
    return [p.message for p in validate(app)]


def policy_with_size(stack: Stack, size: int) -> iam.Policy:
    """A policy whose document, as the provider writes it, is ``size`` characters."""
    base = aws_size(
        policy_document([{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/"]}])
    )
    padded = iam.Statement(
        actions=["s3:GetObject"], resources=["arn:aws:s3:::b/" + "x" * (size - base)]
    )
    return iam.Policy(stack, "P", statements=[padded])


def test_a_policy_document_is_measured_as_the_provider_writes_it() -> None:
    app = App()
    statements = [
        iam.Statement(actions=["s3:GetObject", "s3:List*"], resources=["arn:aws:s3:::b/a b"]),
        iam.Statement(actions=["ec2:*"], resources=["*"], effect="Deny"),
    ]
    policy = iam.Policy(Stack(app, "demo"), "P", statements=statements)
    resolved = [
        {"actions": s.actions, "resources": s.resources, "effect": s.effect} for s in statements
    ]
    assert json.loads(policy_document(resolved)) == policy._document()
    assert iam._document_size(policy._document()) == aws_size(policy_document(resolved))


def test_a_trust_policy_is_measured_as_the_provider_writes_it() -> None:
    for principal in ("ec2.amazonaws.com", "arn:aws:iam::123456789012:role/x"):
        kind = "Service" if principal.endswith(".amazonaws.com") else "AWS"
        document = json.loads(trust_policy(principal))
        assert document["Statement"][0]["Principal"] == {kind: principal}
        assert iam._document_size(document) == aws_size(trust_policy(principal))


def test_a_policy_of_exactly_6144_characters_is_accepted_and_one_more_is_refused() -> None:
    app = App()
    policy_with_size(Stack(app, "ok"), 6144)
    policy_with_size(Stack(app, "big"), 6145)
    assert [(p.path, p.message) for p in validate(app)] == [
        (
            "big/P",
            "'statements' must make a policy document of at most 6144 characters without "
            "whitespace (got 6145); split them across several iam.Policy attached to the "
            "same roles",
        )
    ]


def test_references_in_a_policy_count_only_their_known_text() -> None:
    app = App()
    stack = Stack(app, "demo")
    buckets = [s3.Bucket(stack, f"B{i}") for i in range(300)]
    # 300 ARNs would pass 6144 once resolved, but their length is unknown: accepted.
    iam.Policy(
        stack,
        "Refs",
        statements=[iam.Statement(actions=["s3:*"], resources=[b.arn for b in buckets])],
    )
    assert messages(app) == []
    iam.Policy(
        stack,
        "Known",
        statements=[
            iam.Statement(
                actions=["s3:*"], resources=[f"{b.arn}/some/known/prefix/*" for b in buckets]
            )
        ],
    )
    (message,) = messages(app)
    assert message.startswith(
        "'statements' must make a policy document of at most 6144 characters without "
        "whitespace (got at least "
    )
    assert "references not counted" in message


def test_a_trust_policy_of_a_referenced_principal_is_not_refused() -> None:
    app = App()
    stack = Stack(app, "demo")
    other = iam.Role(stack, "Other", assumed_by="ec2.amazonaws.com")
    iam.Role(stack, "R", assumed_by=other.arn)
    assert messages(app) == []


def test_user_data_of_16384_bytes_is_accepted_and_16385_refused() -> None:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    common = {"image": "ami-12345678", "instance_type": "t3.micro", "subnet": subnet}
    ec2.Instance(stack, "Ascii", user_data="x" * 16384, **common)
    ec2.Instance(stack, "Wide", user_data="€" * 5461 + "x", **common)  # 16384 bytes
    ec2.Instance(stack, "Over", user_data="€" * 5461 + "xx", **common)
    assert messages(app) == ["'user_data' must be at most 16384 bytes in UTF-8 (got 16385 bytes)"]


def test_user_data_with_references_counts_only_its_known_bytes() -> None:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    common = {"image": "ami-12345678", "instance_type": "t3.micro", "subnet": subnet}
    ec2.Instance(stack, "Fits", user_data=f"{vpc.id}" + "x" * 16384, **common)
    ec2.Instance(stack, "Over", user_data=f"{vpc.id}" + "x" * 16385, **common)
    assert messages(app) == [
        "'user_data' must be at most 16384 bytes in UTF-8 (got at least 16385 bytes)"
    ]


def test_user_data_that_utf8_cannot_encode_is_refused() -> None:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Sub", vpc=vpc, cidr_block="10.0.1.0/24")
    ec2.Instance(
        stack,
        "Web",
        image="ami-12345678",
        instance_type="t3.micro",
        subnet=subnet,
        user_data="#!/bin/sh\n\udcff",
    )
    assert messages(app) == [
        "'user_data' must be text that UTF-8 can encode (got the lone surrogate '\\udcff')"
    ]


def test_the_system_tags_counted_are_the_ones_the_engine_adds() -> None:
    assert set(SYSTEM_TAG_KEYS) == {*system_tags("stack", "path"), TOKEN_TAG}


def test_resource_and_stack_tags_that_fill_the_room_exactly_are_accepted() -> None:
    app = App()
    stack = Stack(app, "demo", tags={f"s{i}": "v" for i in range(26)})
    # 20 own + 26 from the stack = 46, and "s0" shared with the stack counts once.
    own = {f"r{i}": "v" for i in range(20)} | {"s0": "mine"}
    ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16", tags=own)
    assert messages(app) == []


def test_a_name_tag_of_the_user_does_not_count_twice() -> None:
    app = App()
    stack = Stack(app, "demo", tags={f"s{i}": "v" for i in range(40)})
    own = {f"r{i}": "v" for i in range(6)} | {"Name": "web"}
    ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16", tags=own)
    assert messages(app) == []


def test_too_many_stack_tags_are_reported_once_on_the_stack_not_on_each_resource() -> None:
    app = App()
    stack = Stack(app, "demo", tags={f"s{i}": "v" for i in range(MAX_USER_TAGS + 1)})
    ec2.Vpc(stack, "A", cidr_block="10.0.0.0/16")
    ec2.Vpc(stack, "B", cidr_block="10.1.0.0/16")
    assert [p.path for p in validate(app)] == ["demo"]


def test_a_path_of_exactly_256_characters_with_the_stack_name_is_accepted() -> None:
    app = App()
    stack = Stack(app, "s" * 127)
    ec2.Vpc(stack, "v" * 128, cidr_block="10.0.0.0/16")
    assert len(f"{stack.name}/{'v' * 128}") == 256
    assert messages(app) == []


def test_a_long_path_is_not_refused_for_a_type_that_aws_does_not_tag() -> None:
    app = App()
    stack = Stack(app, "s" * 128)
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    group = ec2.SecurityGroup(stack, "Sg", vpc=vpc)
    ec2.SecurityGroupRule(stack, "r" * 128, group=group, rule=ec2.Rule.tcp(443, source="0.0.0.0/0"))
    assert messages(app) == []


def test_stack_names_that_are_safe_file_names_are_accepted() -> None:
    app = App()
    for name in ("webapp", "web-prod", "web_prod_2", "A1", "console", "com10", "lpt"):
        Stack(app, name)
    assert messages(app) == []
