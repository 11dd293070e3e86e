"""Handlers for EC2 compute: instances and key pairs (EBS volumes are in `volumes`).

Resolved properties, as the engine passes them:

- ``aws.ec2.Instance``: ``image``, ``instance_type``, ``subnet`` (subnet id),
  ``security_groups`` (group ids), ``instance_profile`` (profile name), ``role`` (role
  name, unused: the profile carries it), ``key_pair`` (key name), ``user_data`` (plain
  text), ``require_imdsv2``, ``root_volume_size``, ``root_volume_type``,
  ``root_volume_encrypted``, ``monitoring``, ``tags``.
- ``aws.ec2.KeyPair``: ``public_key``, ``key_name``, ``tags``.

Properties left at ``None`` are absent from the mapping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from infradsl.providers.aws._batch import Coalescer
from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import (
    WAIT_DELAY,
    WAIT_MAX_ATTEMPTS,
    arn,
    describe_all,
    ec2_client,
    error_code,
    id_filter,
    ignore_not_found,
    sync_tags,
    tag_specifications,
    tags_of,
    undo_on_failure,
    wait_for,
)
from infradsl.providers.handler import (
    CreateResult,
    HandlerContext,
    ReadResult,
    ResourceNotFoundError,
    UpdateResult,
    WaitFailedError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, RunInstancesRequestTypeDef

__all__ = ["InstanceHandler", "KeyPairHandler"]

# A freshly created instance profile takes a few seconds to be usable by RunInstances
# (IAM is eventually consistent): retry that one error, bounded.
PROFILE_RETRY_DELAY = 3
PROFILE_RETRY_ATTEMPTS = 20
# moto's fallback root device; used only when the image cannot be described.
DEFAULT_ROOT_DEVICE = "/dev/sda1"
# Instances in these states are gone (or going) for good.
_GONE_STATES = frozenset({"shutting-down", "terminated"})
# Filter values per describe request.
_CHUNK = 200


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


# (endpoint, region, image) -> root device name; an image's root device never changes, and
# fifty instances of one image need one DescribeImages, not fifty (nor fifty at once: the
# first asks, the others wait for its answer).
_ROOT_DEVICES: dict[tuple[str, str, str], str] = {}
_ROOT_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_ROOT_LOCKS_LOCK = threading.Lock()

# (endpoint, region) -> the describe that concurrent launches share (see `Coalescer`).
_DESCRIBERS: dict[tuple[str, str], Coalescer[str, tuple[str, InstanceTypeDef]]] = {}


def _describer(ec2: EC2Client) -> Coalescer[str, tuple[str, InstanceTypeDef]]:
    key = (str(ec2.meta.endpoint_url), str(ec2.meta.region_name))
    with _ROOT_LOCKS_LOCK:
        return _DESCRIBERS.setdefault(key, Coalescer())


def _root_device(ec2: EC2Client, image: str) -> str:
    key = (str(ec2.meta.endpoint_url), str(ec2.meta.region_name), image)
    cached = _ROOT_DEVICES.get(key)
    if cached is not None:
        return cached
    with _ROOT_LOCKS_LOCK:
        lock = _ROOT_LOCKS.setdefault(key, threading.Lock())
    with lock:
        cached = _ROOT_DEVICES.get(key)
        if cached is not None:
            return cached
        return _ask_root_device(ec2, image, key)


def _ask_root_device(ec2: EC2Client, image: str, key: tuple[str, str, str]) -> str:
    try:
        images = ec2.describe_images(ImageIds=[image]).get("Images", [])
    except ClientError as error:
        if not error_code(error).startswith("InvalidAMIID"):
            raise
        images = []
    device = DEFAULT_ROOT_DEVICE
    if images and images[0].get("RootDeviceName"):
        device = str(images[0]["RootDeviceName"])
    _ROOT_DEVICES[key] = device
    return device


def _is_ours(ctx: HandlerContext, tags: Mapping[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in ctx.tags.items())


def _is_profile_not_ready(error: ClientError) -> bool:
    message = str(error.response.get("Error", {}).get("Message", ""))
    return error_code(error) == "InvalidParameterValue" and "Instance Profile" in message


class InstanceHandler(Ec2Handler):
    """Runs one EC2 instance; instances are immutable, only their tags update in place.

    The items it describes are instances (not reservations), each with its reservation's
    ``OwnerId`` (the account, part of its ARN).
    """

    type_name: ClassVar[str] = "aws.ec2.Instance"
    describe = Describe.of("Instance", key="Reservations")
    gone_states: ClassVar[frozenset[str]] = _GONE_STATES

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        tags = ctx.merged_tags(props)
        params: RunInstancesRequestTypeDef = {
            "ImageId": props["image"],
            "InstanceType": props["instance_type"],
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": props["subnet"],
            "ClientToken": ctx.token("create"),
            "Monitoring": {"Enabled": bool(props.get("monitoring", False))},
            "MetadataOptions": {
                "HttpEndpoint": "enabled",
                "HttpTokens": "required" if props.get("require_imdsv2", True) else "optional",
            },
            "BlockDeviceMappings": [
                {
                    "DeviceName": _root_device(ec2, props["image"]),
                    "Ebs": {
                        "VolumeSize": int(props.get("root_volume_size", 8)),
                        "VolumeType": props.get("root_volume_type", "gp3"),
                        "Encrypted": bool(props.get("root_volume_encrypted", True)),
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "TagSpecifications": [
                *tag_specifications("instance", tags),
                *tag_specifications("volume", tags),
            ],
        }
        if props.get("security_groups"):
            params["SecurityGroupIds"] = list(props["security_groups"])
        if props.get("instance_profile"):
            params["IamInstanceProfile"] = {"Name": props["instance_profile"]}
        if props.get("key_pair"):
            params["KeyName"] = props["key_pair"]
        if props.get("user_data"):
            params["UserData"] = props["user_data"]  # boto3 base64-encodes it
        owner, launched = self._run(ec2, params)
        instance_id = str(launched["InstanceId"])
        if ctx.settle_later:
            # Nothing waits for it: `settle` waits for it and the others in batched calls.
            return CreateResult(instance_id, _instance_attributes(ctx.region, owner, launched))
        with undo_on_failure(lambda: self._terminate(ec2, instance_id)):
            owner, instance = self._wait_running(ec2, instance_id)
        return CreateResult(instance_id, _instance_attributes(ctx.region, owner, instance))

    def settle(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> dict[str, Any]:
        """Wait until every instance of ``physical_ids`` runs (one describe per poll and
        page for all of them); their final attributes by id (addresses come with running)."""
        ec2 = ec2_client(ctx)
        waiting = set(physical_ids)
        ready: dict[str, Any] = {}
        states: dict[str, str] = {}
        for attempt in range(WAIT_MAX_ATTEMPTS):
            described = self._describe(ec2, sorted(waiting))
            for instance_id in sorted(waiting):
                if instance_id not in described:
                    raise _vanished(instance_id)
                owner, instance = described[instance_id]
                state = states[instance_id] = _state_name(instance)
                if state in ("stopping", "stopped"):
                    raise _not_running(instance_id, state)
                if state == "running":
                    ready[instance_id] = _instance_attributes(ctx.region, owner, instance)
                    waiting.discard(instance_id)
            if not waiting:
                return ready
            if attempt + 1 < WAIT_MAX_ATTEMPTS:
                time.sleep(WAIT_DELAY)
        raise WaitTimeoutError(
            f"instances {', '.join(sorted(waiting))} not running after "
            f"{WAIT_MAX_ATTEMPTS * WAIT_DELAY}s",
            resource=", ".join(sorted(waiting)),
            wanted="running",
            last_state=",".join(sorted({states.get(i, "unknown") for i in waiting})),
        )

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        ec2 = ec2_client(ctx)
        described = self._describe(ec2, physical_ids)
        roots = {
            iid: _root_volume_id(instance)
            for iid, (_owner, instance) in described.items()
            if _root_volume_id(instance)
        }
        volumes: dict[str, Any] = {}
        if roots:
            for chunk in _chunks(sorted(roots.values())):
                for volume in describe_all(
                    ec2, "describe_volumes", "Volumes", Filters=id_filter("volume-id", chunk)
                ):
                    volumes[volume["VolumeId"]] = volume
        found: dict[str, ReadResult] = {}
        for iid, (owner, instance) in described.items():
            found[iid] = ReadResult(
                properties=_instance_properties(instance, volumes.get(roots.get(iid, ""))),
                attributes=_instance_attributes(ctx.region, owner, instance),
                tags=tags_of(instance.get("Tags")),
            )
        return found

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        described = self._describe(ec2, [physical_id])
        if physical_id not in described:
            raise ResourceNotFoundError(f"instance {physical_id} no longer exists")
        _owner, instance = described[physical_id]
        sync_tags(ec2, physical_id, ctx, old, new)
        root = _root_volume_id(instance)
        if root:
            sync_tags(ec2, root, ctx, old, new)
        owner, instance = self._describe(ec2, [physical_id])[physical_id]
        return UpdateResult(_instance_attributes(ctx.region, owner, instance))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        self._terminate(ec2_client(ctx), physical_id)

    def _when_found(self, ec2: EC2Client, item: Any) -> Any:
        if self._state(item) != "pending":
            return item
        # Launched, then the create died: wait as create does.
        owner, instance = self._wait_running(ec2, self._id(item))
        return {**instance, "OwnerId": owner}

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        return _instance_attributes(ctx.region, item.get("OwnerId", ""), item)

    def _state(self, item: Any) -> str | None:
        return _state_name(item)

    def _unpack(self, items: list[Any]) -> list[Any]:
        return [
            {**instance, "OwnerId": reservation.get("OwnerId", "")}
            for reservation in items
            for instance in reservation.get("Instances", [])
        ]

    @staticmethod
    def _run(ec2: EC2Client, params: RunInstancesRequestTypeDef) -> tuple[str, InstanceTypeDef]:
        """Launch; the owner account and the instance as RunInstances describes it."""
        for attempt in range(PROFILE_RETRY_ATTEMPTS):
            try:
                reservation = ec2.run_instances(**params)
                return str(reservation.get("OwnerId", "")), reservation["Instances"][0]
            except ClientError as error:
                if not _is_profile_not_ready(error) or attempt == PROFILE_RETRY_ATTEMPTS - 1:
                    raise
            time.sleep(PROFILE_RETRY_DELAY)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _terminate(ec2: EC2Client, instance_id: str) -> None:
        with ignore_not_found():
            ec2.terminate_instances(InstanceIds=[instance_id])
            wait_for(ec2, "instance_terminated", InstanceIds=[instance_id])

    def _wait_running(self, ec2: EC2Client, instance_id: str) -> tuple[str, InstanceTypeDef]:
        """Poll until running (bounded); the last describe gives the attributes too, so a
        new instance costs one describe where a waiter and a describe would cost two, and
        instances launched side by side share their describes."""
        state = "unknown"
        describer = _describer(ec2)
        for attempt in range(WAIT_MAX_ATTEMPTS):
            described = describer.get(instance_id, partial(self._describe, ec2))
            if described is None:
                raise _vanished(instance_id)
            owner, instance = described
            state = _state_name(instance)
            if state == "running":
                return owner, instance
            if state in ("stopping", "stopped"):
                raise _not_running(instance_id, state)
            if attempt + 1 < WAIT_MAX_ATTEMPTS:
                time.sleep(WAIT_DELAY)
        raise WaitTimeoutError(
            f"instance {instance_id} not running after {WAIT_MAX_ATTEMPTS * WAIT_DELAY}s "
            f"(last state: {state})",
            resource=instance_id,
            wanted="running",
            last_state=state,
        )

    def _describe(self, ec2: EC2Client, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """Live (not terminated) instances by id, with their owner account."""
        return {self._id(i): (i["OwnerId"], i) for i in self._read_ids(ec2, ids)}


def _state_name(instance: InstanceTypeDef) -> str:
    return str(instance.get("State", {}).get("Name", "unknown"))


def _vanished(instance_id: str) -> WaitFailedError:
    return WaitFailedError(
        f"instance {instance_id} vanished right after it started",
        resource=instance_id,
        wanted="running",
    )


def _not_running(instance_id: str, state: str) -> WaitFailedError:
    return WaitFailedError(
        f"instance {instance_id} is {state} instead of running",
        resource=instance_id,
        wanted="running",
        last_state=state,
    )


def _root_volume_id(instance: InstanceTypeDef) -> str:
    root = instance.get("RootDeviceName")
    for mapping in instance.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root:
            return str(mapping.get("Ebs", {}).get("VolumeId", ""))
    return ""


def _instance_attributes(region: str, owner: str, instance: InstanceTypeDef) -> dict[str, Any]:
    instance_id = instance["InstanceId"]
    return {
        "id": instance_id,
        "arn": arn(region, owner, "instance", instance_id),
        "public_ip": instance.get("PublicIpAddress") or "",
        "private_ip": instance.get("PrivateIpAddress") or "",
        "public_dns": instance.get("PublicDnsName") or "",
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone", ""),
    }


def _instance_properties(instance: InstanceTypeDef, root: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "image": instance.get("ImageId"),
        "instance_type": instance.get("InstanceType"),
        "subnet": instance.get("SubnetId"),
        "security_groups": sorted(g["GroupId"] for g in instance.get("SecurityGroups", [])),
        "require_imdsv2": instance.get("MetadataOptions", {}).get("HttpTokens") == "required",
        "monitoring": instance.get("Monitoring", {}).get("State") in ("enabled", "pending"),
    }
    profile = instance.get("IamInstanceProfile", {}).get("Arn")
    if profile:
        props["instance_profile"] = profile.rsplit("/", 1)[-1]
    if instance.get("KeyName"):
        props["key_pair"] = instance["KeyName"]
    if root is not None:
        props["root_volume_size"] = root.get("Size")
        props["root_volume_type"] = root.get("VolumeType")
        props["root_volume_encrypted"] = bool(root.get("Encrypted"))
    return props


class KeyPairHandler(Ec2Handler):
    """Imports an SSH public key as an EC2 key pair; the key name is the physical id.

    ``find`` looks a key up by its token tag, not by its name: an explicit ``key_name``
    may be another state's key too.
    """

    type_name: ClassVar[str] = "aws.ec2.KeyPair"
    # DescribeKeyPairs is not paginated: one call returns every match.
    describe = Describe.of(
        "KeyPair", id_key="KeyName", id_filter="key-name", ids_param="KeyNames", paginated=False
    )

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        name = props.get("key_name") or ctx.physical_name(255)
        try:
            imported = ec2.import_key_pair(
                KeyName=name,
                PublicKeyMaterial=str(props["public_key"]).encode(),
                TagSpecifications=tag_specifications("key-pair", ctx.merged_tags(props)),
            )
            fingerprint = imported.get("KeyFingerprint", "")
        except ClientError as error:
            if error_code(error) != "InvalidKeyPair.Duplicate":
                raise
            # A retry after a crash finds its own key: adopt it; anyone else's is refused.
            existing = self.read(ctx, [name]).get(name)
            if existing is None or not _is_ours(ctx, existing.tags or {}):
                raise
            fingerprint = existing.attributes["fingerprint"]
        return CreateResult(name, {"id": name, "fingerprint": fingerprint})

    def _properties(self, item: Any) -> dict[str, Any]:
        return {"key_name": self._id(item)}

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        return {"id": self._id(item), "fingerprint": item.get("KeyFingerprint", "")}

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        pair = self._get(ec2, physical_id)
        sync_tags(ec2, pair.get("KeyPairId", physical_id), ctx, old, new)
        return UpdateResult(self._attributes(ctx, pair))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        with ignore_not_found():
            ec2_client(ctx).delete_key_pair(KeyName=physical_id)
