"""The EC2 compute handlers (instances, key pairs, volumes) against the local cloud."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.compute import InstanceHandler, KeyPairHandler
from infradsl.providers.aws.volumes import VolumeHandler
from infradsl.providers.handler import HandlerContext
from infradsl.testing.plugin import LocalCloudFixture

# A real key: moto checks the OpenSSH format.
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICS00B5uIbv7nchqA3uF0asPFagqksepLmP9/DkZxzG/ ops"


def context(cloud: LocalCloudFixture, path: str = "Web", **kwargs: Any) -> HandlerContext:
    return HandlerContext(
        stack="test",
        path=path,
        region="us-east-1",
        clients=Clients("us-east-1", cloud.endpoint),
        **kwargs,
    )


@pytest.fixture
def network(local_cloud: LocalCloudFixture) -> dict[str, str]:
    """A VPC, a subnet, a security group and an AMI, made directly with boto3."""
    ec2 = local_cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")[
        "Subnet"
    ]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName="web", Description="web")["GroupId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return {"vpc": vpc, "subnet": subnet, "group": group, "image": image}


def instance_props(network: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "image": network["image"],
        "instance_type": "t3.micro",
        "subnet": network["subnet"],
        "security_groups": [network["group"]],
        "require_imdsv2": True,
        "root_volume_size": 20,
        "root_volume_type": "gp3",
        "root_volume_encrypted": True,
        "monitoring": False,
        "tags": {"team": "web"},
        **extra,
    }


def test_instance_handler_passes_the_conformance_suite(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    props = instance_props(network)
    check_handler(
        InstanceHandler(),
        context(local_cloud),
        props,
        {**props, "tags": {"team": "platform"}},
    )


def test_an_instance_is_tagged_and_its_root_volume_encrypted_and_tagged(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    ctx = context(local_cloud)
    handler = InstanceHandler()
    created = handler.create(ctx, instance_props(network, user_data="#!/bin/sh\necho hi\n"))
    iid = created.physical_id
    ec2 = local_cloud.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags == {**ctx.tags, "team": "web"}
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    root = next(
        m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == instance["RootDeviceName"]
    )
    volume = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Encrypted"] is True
    assert volume["Size"] == 20
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}["infradsl:path"] == "Web"
    assert created.attributes["arn"].startswith("arn:aws:ec2:us-east-1:")
    assert created.attributes["availability_zone"] == "us-east-1a"
    assert created.attributes["private_ip"].startswith("10.0.1.")
    read = handler.read(ctx, [iid])[iid]
    assert read.properties["root_volume_encrypted"] is True
    assert read.properties["require_imdsv2"] is True


def test_a_terminated_instance_is_read_as_missing(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    ctx = context(local_cloud)
    handler = InstanceHandler()
    iid = handler.create(ctx, instance_props(network)).physical_id
    handler.delete(ctx, iid, instance_props(network))
    state = local_cloud.client("ec2").describe_instances(InstanceIds=[iid])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    assert handler.read(ctx, [iid]) == {}


def test_an_instance_gets_its_instance_profile_key_pair_and_optional_imds(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    iam = local_cloud.client("iam")
    iam.create_role(RoleName="web", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="web-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web")
    ctx = context(local_cloud)
    key = KeyPairHandler().create(context(local_cloud, "Key"), {"public_key": PUBLIC_KEY})
    props = instance_props(
        network, instance_profile="web-profile", key_pair=key.physical_id, require_imdsv2=False
    )
    iid = InstanceHandler().create(ctx, props).physical_id
    read = InstanceHandler().read(ctx, [iid])[iid].properties
    assert read["instance_profile"] == "web-profile"
    assert read["key_pair"] == key.physical_id
    assert read["require_imdsv2"] is False


def test_reading_no_ids_makes_no_call_and_finds_nothing(local_cloud: LocalCloudFixture) -> None:
    ctx = context(local_cloud)
    for handler in (InstanceHandler(), KeyPairHandler(), VolumeHandler()):
        assert handler.read(ctx, []) == {}
        assert handler.read(ctx, ["i-0123456789abcdef0"]) == {}


def test_key_pair_handler_passes_the_conformance_suite(local_cloud: LocalCloudFixture) -> None:
    props = {"public_key": PUBLIC_KEY}
    check_handler(
        KeyPairHandler(), context(local_cloud, "Key"), props, {**props, "tags": {"a": "b"}}
    )


def test_a_key_pair_is_named_from_the_path_and_has_a_fingerprint(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud, "Ops/Key")
    created = KeyPairHandler().create(ctx, {"public_key": PUBLIC_KEY})
    assert created.physical_id == ctx.physical_name(255)
    assert created.attributes["fingerprint"]


def test_creating_a_key_pair_again_after_a_crash_adopts_its_own_key(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud, "Key")
    first = KeyPairHandler().create(ctx, {"public_key": PUBLIC_KEY, "key_name": "ops"})
    again = KeyPairHandler().create(ctx, {"public_key": PUBLIC_KEY, "key_name": "ops"})
    assert again.physical_id == first.physical_id == "ops"
    with pytest.raises(Exception, match="Duplicate"):
        KeyPairHandler().create(
            context(local_cloud, "Other"), {"public_key": PUBLIC_KEY, "key_name": "ops"}
        )


def test_volume_handler_passes_the_conformance_suite(local_cloud: LocalCloudFixture) -> None:
    props = {"availability_zone": "us-east-1a", "size": 10, "volume_type": "gp3", "encrypted": True}
    check_handler(
        VolumeHandler(),
        context(local_cloud, "Data"),
        props,
        {**props, "size": 20, "volume_type": "gp2", "tags": {"a": "b"}},
    )


def test_a_volume_attaches_moves_and_detaches_on_delete(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    ctx = context(local_cloud)
    first = InstanceHandler().create(ctx, instance_props(network)).physical_id
    second = (
        InstanceHandler().create(context(local_cloud, "Web2"), instance_props(network)).physical_id
    )
    handler = VolumeHandler()
    data = context(local_cloud, "Data")
    props = {"availability_zone": "us-east-1a", "size": 10, "instance": first, "device": "/dev/sdf"}
    vid = handler.create(data, props).physical_id
    assert handler.read(data, [vid])[vid].properties["instance"] == first
    moved = {**props, "instance": second, "device": "/dev/sdg"}
    handler.update(data, vid, props, moved)
    live = handler.read(data, [vid])[vid].properties
    assert (live["instance"], live["device"]) == (second, "/dev/sdg")
    handler.delete(data, vid, moved)
    assert handler.read(data, [vid]) == {}


def test_find_does_not_adopt_what_another_lineage_made(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    """Same stack, path and explicit key name, another state: not found."""
    cases: list[tuple[Any, str, dict[str, Any]]] = [
        (InstanceHandler(), "Web", instance_props(network)),
        (KeyPairHandler(), "Key", {"public_key": PUBLIC_KEY, "key_name": "ops"}),
        (VolumeHandler(), "Data", {"availability_zone": "us-east-1a", "size": 10}),
    ]
    for handler, path, props in cases:
        ctx = context(local_cloud, path)
        pid = handler.create(ctx, props).physical_id
        assert handler.find(attrs.evolve(ctx, lineage="other"), props) is None, path
        found = handler.find(ctx, props)
        assert found is not None and found.physical_id == pid, path


def test_find_recovers_an_instance_whose_launch_was_never_recorded(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    """RunInstances went through, then the process died: found by its token tag, with
    every attribute; once terminated it is not found any more."""
    ctx = context(local_cloud)
    ec2 = local_cloud.client("ec2")
    tags = [{"Key": k, "Value": v} for k, v in ctx.tags.items()]
    launched = ec2.run_instances(
        ImageId=network["image"],
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=network["subnet"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    handler = InstanceHandler()
    found = handler.find(ctx, instance_props(network))
    assert found is not None and found.physical_id == launched["InstanceId"]
    assert found.attributes["private_ip"] == launched["PrivateIpAddress"]
    assert found.attributes["availability_zone"] == "us-east-1a"
    handler.delete(ctx, found.physical_id, instance_props(network))
    assert handler.find(ctx, instance_props(network)) is None
    assert handler.list_stack(ctx) == {}


def test_volume_list_stack_leaves_the_instances_root_volumes_out(
    local_cloud: LocalCloudFixture, network: dict[str, str]
) -> None:
    iid = InstanceHandler().create(context(local_cloud), instance_props(network)).physical_id
    props = {"availability_zone": "us-east-1a", "size": 10, "instance": iid}
    vid = VolumeHandler().create(context(local_cloud, "Data"), props).physical_id
    ctx = context(local_cloud, "")
    assert VolumeHandler().list_stack(ctx) == {vid: "Data"}
    assert InstanceHandler().list_stack(ctx) == {iid: "Web"}
