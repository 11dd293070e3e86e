"""Handler for EBS volumes.

Resolved properties, as the engine passes them: ``availability_zone``, ``size``,
``volume_type``, ``encrypted``, ``iops``, ``instance`` (instance id), ``device``, ``tags``.
Properties left at ``None`` are absent from the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import (
    arn,
    describe_all,
    ec2_client,
    ignore_not_found,
    stack_filter,
    stack_paths,
    sync_tags,
    tag_specifications,
    tags_of,
    undo_on_failure,
    wait_for,
)
from infradsl.providers.handler import CreateResult, HandlerContext, UpdateResult, notify

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_sts.client import STSClient

__all__ = ["VolumeHandler"]


class VolumeHandler(Ec2Handler):
    """An EBS volume, attached to at most one instance; size, type and IOPS change live."""

    type_name: ClassVar[str] = "aws.ec2.Volume"
    describe = Describe.of("Volume")
    # Volumes in these states are gone (or going) for good.
    gone_states: ClassVar[frozenset[str]] = frozenset({"deleting", "deleted"})

    def __init__(self) -> None:
        self._accounts: dict[int, str] = {}

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        params: dict[str, Any] = {
            "AvailabilityZone": props["availability_zone"],
            "Size": int(props["size"]),
            "VolumeType": props.get("volume_type", "gp3"),
            "Encrypted": bool(props.get("encrypted", True)),
            "TagSpecifications": tag_specifications("volume", ctx.merged_tags(props)),
            "ClientToken": ctx.token("create"),
        }
        if props.get("iops") is not None:
            params["Iops"] = int(props["iops"])
        volume_id = ec2.create_volume(**params)["VolumeId"]
        with undo_on_failure(lambda: self.delete(ctx, volume_id, props)):
            wait_for(ec2, "volume_available", VolumeIds=[volume_id])
            if props.get("instance"):
                _attach(ec2, volume_id, props["instance"], props.get("device", "/dev/sdf"))
        return CreateResult(volume_id, self._volume_attributes(ctx, volume_id))

    def _properties(self, item: Any) -> dict[str, Any]:
        props: dict[str, Any] = {
            "availability_zone": item.get("AvailabilityZone"),
            "size": item.get("Size"),
            "volume_type": item.get("VolumeType"),
            "encrypted": bool(item.get("Encrypted")),
        }
        if item.get("Iops") is not None:
            props["iops"] = item["Iops"]
        attached = [a for a in item.get("Attachments", []) if a.get("InstanceId")]
        if attached:
            props["instance"] = attached[0]["InstanceId"]
            props["device"] = attached[0].get("Device")
        return props

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        modify: dict[str, Any] = {}
        if new.get("size") != old.get("size"):
            modify["Size"] = int(new["size"])
        if new.get("volume_type", "gp3") != old.get("volume_type", "gp3"):
            modify["VolumeType"] = new.get("volume_type", "gp3")
        if new.get("iops") != old.get("iops") and new.get("iops") is not None:
            modify["Iops"] = int(new["iops"])
        if modify:
            ec2.modify_volume(VolumeId=physical_id, **modify)
        old_at = (old.get("instance"), old.get("device", "/dev/sdf"))
        new_at = (new.get("instance"), new.get("device", "/dev/sdf"))
        if old_at != new_at:
            # A data volume moving to another instance (the replacement of its server):
            # the instance it leaves is stopped first, so no write is lost.
            _detach_all(ec2, physical_id, keep=new_at[0], quiesce=bool(new_at[0]))
            if new_at[0]:
                _attach(ec2, physical_id, new_at[0], new_at[1])
                _start_if_stopped_for(ec2, new_at[0], physical_id)
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(self._volume_attributes(ctx, physical_id))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            _detach_all(ec2, physical_id)
            ec2.delete_volume(VolumeId=physical_id)
            wait_for(ec2, "volume_deleted", VolumeIds=[physical_id])

    def _when_found(self, ec2: EC2Client, item: Any) -> Any:
        # The create died while the volume was being made or attached: wait as it does.
        volume_id = self._id(item)
        if item.get("State") == "creating":
            wait_for(ec2, "volume_available", VolumeIds=[volume_id])
        if any(a.get("State") == "attaching" for a in item.get("Attachments", [])):
            wait_for(ec2, "volume_in_use", VolumeIds=[volume_id])
        return item

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """The stack's volumes, without the instances' root volumes.

        RunInstances tags an instance's root volume with the instance's tags (its path
        included): a volume attached to an instance of the same path is that instance's,
        not an ``aws.ec2.Volume``. The instances are described only if a volume is attached.
        """
        ec2 = ec2_client(ctx)
        volumes = self._live(ec2, stack_filter(ctx))
        found = stack_paths(ctx, volumes, "VolumeId")
        attached = {
            v["VolumeId"]: {
                a["InstanceId"] for a in v.get("Attachments", []) if a.get("InstanceId")
            }
            for v in volumes
            if v["VolumeId"] in found
        }
        if any(attached.values()):
            reservations = describe_all(
                ec2, "describe_instances", "Reservations", Filters=stack_filter(ctx)
            )
            instance_paths = stack_paths(
                ctx, (i for r in reservations for i in r.get("Instances", [])), "InstanceId"
            )
            for volume_id, instances in attached.items():
                if any(instance_paths.get(i) == found[volume_id] for i in instances):
                    del found[volume_id]
        return found

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        return self._volume_attributes(ctx, self._id(item))

    def _volume_attributes(self, ctx: HandlerContext, volume_id: str) -> dict[str, Any]:
        key = id(ctx.clients)
        if key not in self._accounts:
            sts = cast("STSClient", ctx.clients.client("sts"))
            self._accounts[key] = sts.get_caller_identity()["Account"]
        return {"id": volume_id, "arn": arn(ctx.region, self._accounts[key], "volume", volume_id)}


def _attach(ec2: EC2Client, volume_id: str, instance_id: str, device: str) -> None:
    volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    if any(a.get("InstanceId") == instance_id for v in volumes for a in v.get("Attachments", [])):
        return  # attached already (a move finished by a run that died before recording it)
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    wait_for(ec2, "volume_in_use", VolumeIds=[volume_id])


def _detach_all(
    ec2: EC2Client, volume_id: str, *, keep: str | None = None, quiesce: bool = False
) -> None:
    """Detach ``volume_id`` from every instance but ``keep`` and wait until it is available.

    With ``quiesce``, an instance it leaves that is running is stopped first, and tagged
    ``infradsl:stopped-for = <volume>`` so that moving the volume back (a rollback) starts
    it again (`_start_if_stopped_for`).
    """
    volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    attachments = [
        a
        for v in volumes
        for a in v.get("Attachments", [])
        if a.get("InstanceId") and a.get("InstanceId") != keep
    ]
    for attachment in attachments:
        if quiesce:
            _stop_for(ec2, attachment["InstanceId"], volume_id)
        with ignore_not_found():
            ec2.detach_volume(VolumeId=volume_id, InstanceId=attachment["InstanceId"])
    if attachments:
        wait_for(ec2, "volume_available", VolumeIds=[volume_id])


STOPPED_FOR_TAG = "infradsl:stopped-for"


def _stop_for(ec2: EC2Client, instance_id: str, volume_id: str) -> None:
    """Stop a running instance before its data volume leaves it (tagged for a way back)."""
    with ignore_not_found():
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        states = [i.get("State", {}).get("Name") for r in reservations for i in r["Instances"]]
        if not states or states[0] not in ("pending", "running"):
            return
        notify(f"stopping {instance_id} so that {volume_id} leaves it with no write lost")
        ec2.create_tags(
            Resources=[instance_id], Tags=[{"Key": STOPPED_FOR_TAG, "Value": volume_id}]
        )
        ec2.stop_instances(InstanceIds=[instance_id])
        wait_for(ec2, "instance_stopped", InstanceIds=[instance_id])


def _start_if_stopped_for(ec2: EC2Client, instance_id: str, volume_id: str) -> None:
    """Start an instance that infradsl stopped to take ``volume_id`` away, now it is back."""
    with ignore_not_found():
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        for instance in (i for r in reservations for i in r["Instances"]):
            if tags_of(instance.get("Tags")).get(STOPPED_FOR_TAG) != volume_id:
                continue
            if instance.get("State", {}).get("Name") in ("stopped", "stopping"):
                notify(f"starting {instance_id} again with {volume_id}")
                wait_for(ec2, "instance_stopped", InstanceIds=[instance_id])
                ec2.start_instances(InstanceIds=[instance_id])
                wait_for(ec2, "instance_running", InstanceIds=[instance_id])
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": STOPPED_FOR_TAG}])
