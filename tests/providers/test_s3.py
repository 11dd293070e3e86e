"""The S3 bucket handler against the local cloud."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.s3 import BucketHandler, BucketNotEmptyError
from infradsl.providers.handler import HandlerContext, ResourceConflictError
from infradsl.testing.plugin import LocalCloudFixture


def context(
    cloud: LocalCloudFixture, path: str = "Logs", region: str = "us-east-1"
) -> HandlerContext:
    return HandlerContext(
        stack="test", path=path, region=region, clients=Clients(region, cloud.endpoint)
    )


class Calls:
    """A botocore hook recording each call as ``service.Operation``."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, event_name: str, params: Any, **_: Any) -> None:
        self.made.append(event_name.split(".", 1)[1])


def bucket_props(**extra: Any) -> dict[str, Any]:
    return {
        "versioned": False,
        "encryption": "AES256",
        "block_public_access": True,
        "force_destroy": False,
        "tags": {"team": "data"},
        **extra,
    }


def test_bucket_handler_passes_the_conformance_suite(local_cloud: LocalCloudFixture) -> None:
    check_handler(
        BucketHandler(),
        context(local_cloud),
        bucket_props(bucket_name="acme-logs"),
        bucket_props(
            bucket_name="acme-logs",
            versioned=True,
            encryption="aws:kms",
            block_public_access=False,
            tags={"owner": "ops"},
        ),
    )


def test_a_bucket_is_private_encrypted_and_tagged_with_a_generated_name(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud, "Web/Logs")
    created = BucketHandler().create(ctx, bucket_props())
    name = created.physical_id
    assert name == ctx.physical_name(63, lower=True)
    assert name == name.lower()
    assert created.attributes == {
        "id": name,
        "arn": f"arn:aws:s3:::{name}",
        "domain_name": f"{name}.s3.us-east-1.amazonaws.com",
    }
    s3 = local_cloud.client("s3")
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=name).get("Status") is None
    live = BucketHandler().read(ctx, [name])[name]
    # Only the name is read back: the configuration would take calls per bucket.
    assert live.properties == {"bucket_name": name}
    assert dict(live.tags) == {**ctx.tags, "team": "data"}


def test_a_bucket_outside_us_east_1_is_created_in_its_region(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud, region="eu-west-1")
    created = BucketHandler().create(ctx, bucket_props(bucket_name="acme-eu"))
    s3 = local_cloud.client("s3", region="eu-west-1")
    assert s3.get_bucket_location(Bucket="acme-eu")["LocationConstraint"] == "eu-west-1"
    assert created.attributes["domain_name"] == "acme-eu.s3.eu-west-1.amazonaws.com"


def test_a_bucket_with_objects_is_kept_unless_force_destroy_empties_it(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud)
    handler = BucketHandler()
    props = bucket_props(bucket_name="acme-data", versioned=True)
    handler.create(ctx, props)
    s3 = local_cloud.client("s3")
    for body in (b"one", b"two"):
        s3.put_object(Bucket="acme-data", Key="a.txt", Body=body)
    s3.delete_object(Bucket="acme-data", Key="a.txt")
    s3.put_object(Bucket="acme-data", Key="b.txt", Body=b"three")
    with pytest.raises(BucketNotEmptyError, match="set force_destroy=True"):
        handler.delete(ctx, "acme-data", props)
    assert "acme-data" in handler.read(ctx, ["acme-data"])
    handler.delete(ctx, "acme-data", {**props, "force_destroy": True})
    assert handler.read(ctx, ["acme-data"]) == {}


def test_reading_buckets_finds_only_the_ones_asked_for(local_cloud: LocalCloudFixture) -> None:
    ctx = context(local_cloud)
    handler = BucketHandler()
    handler.create(ctx, bucket_props(bucket_name="acme-one"))
    local_cloud.client("s3").create_bucket(Bucket="someone-else")
    assert set(handler.read(ctx, ["acme-one", "acme-gone"])) == {"acme-one"}
    assert handler.read(ctx, []) == {}


def test_reading_many_buckets_makes_the_same_calls_as_reading_one(
    local_cloud: LocalCloudFixture,
) -> None:
    handler = BucketHandler()
    names = [
        handler.create(
            context(local_cloud, f"B{i}"), bucket_props(bucket_name=f"acme-{i}")
        ).physical_id
        for i in range(5)
    ]
    local_cloud.client("s3").create_bucket(Bucket="acme-untagged")
    tags = {
        name: {**context(local_cloud, f"B{i}").tags, "team": "data"} for i, name in enumerate(names)
    }
    tags["acme-untagged"] = {}

    def calls_to_read(ids: list[str]) -> list[str]:
        calls = Calls()
        clients = Clients(
            "us-east-1", local_cloud.endpoint, hooks=[("before-parameter-build", calls)]
        )
        ctx = HandlerContext(stack="test", path="", region="us-east-1", clients=clients)
        found = handler.read(ctx, ids)
        assert set(found) == set(ids)
        assert {name: dict(found[name].tags) for name in ids} == {name: tags[name] for name in ids}
        return calls.made

    expected = ["s3.ListBuckets", "resource-groups-tagging-api.GetResources"]
    assert calls_to_read(names[:1]) == expected
    assert calls_to_read([*names, "acme-untagged"]) == expected


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_another_lineage_neither_finds_nor_takes_over_a_bucket(
    local_cloud: LocalCloudFixture, region: str
) -> None:
    """Same stack, path and explicit name, another state: find does not find it, and
    create refuses it (us-east-1 answers CreateBucket with a success for an owned bucket)."""
    ctx = context(local_cloud, region=region)
    other = attrs.evolve(ctx, lineage="other")
    props = bucket_props(bucket_name=f"acme-{region}", tags={"team": "data"})
    handler = BucketHandler()
    handler.create(ctx, props)
    assert handler.find(other, props) is None
    with pytest.raises(ResourceConflictError) as refused:
        handler.create(other, {**props, "tags": {"team": "thief"}})
    assert str(refused.value) == (
        "An error occurred (BucketAlreadyOwnedByYou) when calling the CreateBucket operation: "
        f"bucket 'acme-{region}' already exists and was not created by test/Logs in this state"
    )
    found = handler.find(ctx, props)
    assert found is not None and found.physical_id == f"acme-{region}"
    live = handler.read(ctx, [f"acme-{region}"])[f"acme-{region}"]
    assert dict(live.tags) == {**ctx.tags, "team": "data"}
    assert handler.create(ctx, props).physical_id == f"acme-{region}"  # a retry adopts it


def test_an_untagged_bucket_is_not_found_but_a_retried_create_finishes_it(
    local_cloud: LocalCloudFixture,
) -> None:
    """The create died between CreateBucket and PutBucketTagging, outside us-east-1."""
    ctx = context(local_cloud, region="eu-west-1")
    name = ctx.physical_name(63, lower=True)
    local_cloud.client("s3", region="eu-west-1").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    handler = BucketHandler()
    assert handler.find(ctx, bucket_props()) is None
    assert handler.create(ctx, bucket_props()).physical_id == name
    found = handler.find(ctx, bucket_props())
    assert found is not None and found.physical_id == name
    # An explicit name says nothing about who made the bucket: refused.
    local_cloud.client("s3", region="eu-west-1").create_bucket(
        Bucket="acme-manual", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with pytest.raises(ResourceConflictError, match="BucketAlreadyOwnedByYou"):
        handler.create(ctx, bucket_props(bucket_name="acme-manual"))
    assert "acme-manual" in handler.read(ctx, ["acme-manual"])  # and left alone


def test_list_stack_lists_the_stacks_buckets(local_cloud: LocalCloudFixture) -> None:
    handler = BucketHandler()
    handler.create(context(local_cloud, "Logs"), bucket_props(bucket_name="acme-logs"))
    other = attrs.evolve(context(local_cloud, "Logs"), stack="other")
    handler.create(other, bucket_props(bucket_name="other-logs"))
    local_cloud.client("s3").create_bucket(Bucket="acme-untagged")
    assert handler.list_stack(context(local_cloud, "")) == {"acme-logs": "Logs"}
    assert handler.list_stack(other) == {"other-logs": "Logs"}
