"""The golden image handler against the local cloud: build, reuse, copy, retire, clean up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl import App, Stack
from infradsl.aws import ec2 as ec2_decl
from infradsl.providers.aws._provision import ProvisionError
from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.images import (
    BUILDER_TAG,
    HASH_TAG,
    RETIRED_TAG,
    ImageHandler,
    image_identity,
)
from infradsl.providers.handler import HandlerContext
from infradsl.testing.plugin import LocalCloudFixture


def context(
    cloud: LocalCloudFixture, path: str = "Golden", region: str = "us-east-1", **kwargs: Any
) -> HandlerContext:
    return HandlerContext(
        stack="test",
        path=path,
        region=region,
        clients=Clients(region, cloud.endpoint),
        lineage="0123456789abcdef",
        **kwargs,
    )


def declare(directory: Path, base: str, script: str = "echo hello\n") -> dict[str, Any]:
    """Resolved properties of an image declared over ``directory`` (registers its files)."""
    (directory / "setup.sh").write_text(script)
    (directory / "motd").write_text("built by infradsl\n")
    stack = Stack(App(), "test")
    image = ec2_decl.Image(
        stack,
        "Golden",
        base=base,
        directory=str(directory),
        steps=[
            ec2_decl.Shell(script="setup.sh"),
            ec2_decl.CopyFile(source="motd", destination="/etc/motd"),
        ],
    )
    steps = [attrs.asdict(step) for step in image.steps]
    return {
        "base": base,
        "directory": str(directory),
        "steps": steps,
        "instance_type": "t3.small",
        "keep": 2,
        "content_hash": image.content_hash,
        "tags": {"team": "platform"},
    }


@pytest.fixture
def base(local_cloud: LocalCloudFixture) -> str:
    images = local_cloud.client("ec2").describe_images(Owners=["amazon"])["Images"]
    return str(images[0]["ImageId"])


def live_builders(cloud: LocalCloudFixture, region: str = "us-east-1") -> list[str]:
    ec2 = cloud.client("ec2", region) if region != "us-east-1" else cloud.client("ec2")
    found = ec2.describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": [BUILDER_TAG]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]},
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in found for i in r["Instances"]]


def family(cloud: LocalCloudFixture, path: str = "Golden") -> list[dict[str, Any]]:
    return cloud.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:infradsl:path", "Values": [path]}]
    )["Images"]


def test_image_handler_passes_the_conformance_suite(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    props = declare(tmp_path, base)
    check_handler(ImageHandler(), context(local_cloud), props, {**props, "tags": {"team": "x"}})
    assert live_builders(local_cloud) == []


def test_a_build_tags_the_image_with_its_identity_and_leaves_no_builder(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    props = declare(tmp_path, base)
    created = ImageHandler().create(context(local_cloud), props)
    image = local_cloud.client("ec2").describe_images(ImageIds=[created.physical_id])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags[HASH_TAG] == image_identity(props)
    assert tags["infradsl:path"] == "Golden" and tags["team"] == "platform"
    assert live_builders(local_cloud) == []
    snapshots = created.attributes["snapshot_ids"]
    assert snapshots, "the image has its snapshots"
    snap = local_cloud.client("ec2").describe_snapshots(SnapshotIds=snapshots)["Snapshots"][0]
    assert {t["Key"]: t["Value"] for t in snap["Tags"]}[HASH_TAG] == image_identity(props)


def test_the_same_inputs_are_reused_never_rebuilt(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    props = declare(tmp_path, base)
    handler = ImageHandler()
    first = handler.create(context(local_cloud), props)
    launched = len(local_cloud.client("ec2").describe_instances()["Reservations"])
    again = handler.create(context(local_cloud, path="Other", attempt=3), props)
    assert again.physical_id == first.physical_id
    assert len(local_cloud.client("ec2").describe_instances()["Reservations"]) == launched


def test_another_base_image_is_another_identity(tmp_path: Path) -> None:
    props = declare(tmp_path, "ami-0123456789abcdef0")
    other = {**props, "base": "ami-0fedcba9876543210"}
    assert image_identity(props) != image_identity(other)


def test_a_changed_file_is_a_new_content_hash_and_is_refused_after_the_plan(
    tmp_path: Path,
) -> None:
    from infradsl.providers.aws._provision import bundle_for

    props = declare(tmp_path, "ami-0123456789abcdef0")
    assert bundle_for(props) == tmp_path.resolve()
    (tmp_path / "motd").write_text("changed after the plan\n")
    with pytest.raises(ProvisionError, match="changed after the plan was made: plan again"):
        bundle_for(props)
    changed = declare(tmp_path, "ami-0123456789abcdef0", script="echo changed\n")
    assert changed["content_hash"] != props["content_hash"]


def test_a_script_with_a_syntax_error_fails_before_any_builder_is_launched(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    props = declare(tmp_path, base, script="if then fi (\n")
    before = len(local_cloud.client("ec2").describe_instances()["Reservations"])
    with pytest.raises(ProvisionError, match=r"setup\.sh has a syntax error"):
        ImageHandler().create(context(local_cloud), props)
    assert len(local_cloud.client("ec2").describe_instances()["Reservations"]) == before


def test_retiring_keeps_the_last_n_images_and_deletes_older_ones_with_their_snapshots(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    handler = ImageHandler()
    made = []
    for attempt in range(4):
        props = declare(tmp_path, base, script=f"echo {attempt}\n")  # keep=2
        made.append(handler.create(context(local_cloud, attempt=attempt), props))
        if attempt:
            handler.delete(
                context(local_cloud, attempt=attempt - 1, retiring=True),
                made[attempt - 1].physical_id,
                props,
            )
    left = {i["ImageId"] for i in family(local_cloud)}
    assert left == {made[3].physical_id, made[2].physical_id}, "current + 1 retired"
    retired = next(i for i in family(local_cloud) if i["ImageId"] == made[2].physical_id)
    assert RETIRED_TAG in {t["Key"] for t in retired["Tags"]}
    gone_snapshots = made[0].attributes["snapshot_ids"] + made[1].attributes["snapshot_ids"]
    existing = {
        s["SnapshotId"] for s in local_cloud.client("ec2").describe_snapshots()["Snapshots"]
    }
    assert not set(gone_snapshots) & existing
    # Only live images are listed: retired ones are kept on purpose, outside the state.
    assert set(handler.list_stack(context(local_cloud))) == {made[3].physical_id}


def test_an_image_an_instance_still_runs_from_is_never_deleted(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    handler = ImageHandler()
    props = declare(tmp_path, base)
    created = handler.create(context(local_cloud), props)
    ec2 = local_cloud.client("ec2")
    ec2.run_instances(ImageId=created.physical_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    handler.delete(context(local_cloud), created.physical_id, props)
    assert [i["ImageId"] for i in family(local_cloud)] == [created.physical_id]


def test_a_copy_has_the_same_identity_in_the_other_region_and_is_reused(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    handler = ImageHandler()
    props = declare(tmp_path, base)
    source = handler.create(context(local_cloud), props)
    copy_props = {
        "copy_of": source.physical_id,
        "source_region": "us-east-1",
        "content_hash": image_identity(props),
        "keep": 2,
        "tags": {},
    }
    eu = context(local_cloud, region="eu-west-1")
    copied = handler.create(eu, copy_props)
    assert copied.physical_id != source.physical_id
    ec2_eu = local_cloud.client("ec2", "eu-west-1")
    image = ec2_eu.describe_images(ImageIds=[copied.physical_id])["Images"][0]
    assert {t["Key"]: t["Value"] for t in image["Tags"]}[HASH_TAG] == image_identity(props)
    assert handler.find(eu, copy_props) is not None
    again = handler.create(attrs.evolve(eu, attempt=1), copy_props)
    assert again.physical_id == copied.physical_id


def test_discard_and_update_terminate_the_builder_of_a_dead_run(
    local_cloud: LocalCloudFixture, base: str
) -> None:
    ctx = context(local_cloud)
    ec2 = local_cloud.client("ec2")
    tags = [
        {"Key": BUILDER_TAG, "Value": ctx.creation_token},
        {"Key": "infradsl:stack", "Value": "test"},
    ]
    ec2.run_instances(
        ImageId=base,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    assert len(live_builders(local_cloud)) == 1
    ImageHandler().discard(ctx, {})
    assert live_builders(local_cloud) == []


def test_lookup_finds_the_newest_matching_image(local_cloud: LocalCloudFixture) -> None:
    found = ImageHandler().lookup(
        context(local_cloud), {"owner": "amazon", "name": "amzn2-ami-hvm-*-x86_64-gp2"}
    )
    assert len(found) == 1
    (image_id,) = found
    assert image_id.startswith("ami-")


def test_a_rollback_deletes_only_what_its_creation_made_and_retires_a_reused_image(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    handler = ImageHandler()
    props = declare(tmp_path, base)
    kept = handler.create(context(local_cloud), props)
    other = declare(tmp_path, base, script="echo other\n")
    made = handler.create(context(local_cloud, attempt=1), other)
    # Undo the second creation: that image only.
    handler.delete(context(local_cloud, attempt=1, rollback=True), made.physical_id, other)
    assert [i["ImageId"] for i in family(local_cloud)] == [kept.physical_id]
    # A creation that reused an earlier image: undoing it keeps the image, retired.
    reused = handler.create(context(local_cloud, attempt=2), props)
    assert reused.physical_id == kept.physical_id
    handler.delete(context(local_cloud, attempt=2, rollback=True), reused.physical_id, props)
    (image,) = family(local_cloud)
    assert RETIRED_TAG in {t["Key"] for t in image["Tags"]}


def test_another_state_of_a_same_named_stack_never_deletes_these_images(
    local_cloud: LocalCloudFixture, base: str, tmp_path: Path
) -> None:
    handler = ImageHandler()
    props = declare(tmp_path, base)
    created = handler.create(context(local_cloud), props)
    stranger = attrs.evolve(context(local_cloud), lineage="fedcba9876543210")
    handler.delete(stranger, "ami-00000000000000000", props)
    assert [i["ImageId"] for i in family(local_cloud)] == [created.physical_id]
