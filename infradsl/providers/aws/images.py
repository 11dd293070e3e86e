"""Handler for golden images (``aws.ec2.Image``): build, reuse, copy and retire AMIs.

Resolved properties: ``base`` (AMI id), ``directory``, ``steps``, ``instance_type``,
``subnet`` (subnet id), ``ssh_username``, ``keep``, ``copy_of`` (AMI id in
``source_region``), ``content_hash``, ``tags``.

A build is a sequence of steps that each leave a mark in the cloud, so a run killed
anywhere is finished or cleaned up by the next one:

1. the builder instance is launched tagged ``infradsl:builder = <creation token>``;
2. on AWS, its user data unpacks the provisioning files, runs the steps, prints a marker
   to the console and powers the instance off; the handler waits for ``stopped`` and
   checks the marker (a failed build shows the console's last lines). The local cloud
   never boots instances: there the steps are checked statically instead
   (`infradsl.providers.aws._provision`);
3. CreateImage, tagged with the creation token and the image's identity
   (``infradsl:image-hash``): `find` recognises it after a crash;
4. the builder is terminated (every builder of the token: also those of a dead run).

An image whose identity already exists in the account and region is reused, never rebuilt.
Retiring the old image of a replacement keeps it (tagged ``infradsl:retired``) until more
than ``keep`` images of the same `Image` exist; then the oldest are deregistered with their
snapshots, except images an instance still runs from.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from infradsl.providers.aws import _provision
from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import (
    describe_all,
    ec2_client,
    ignore_not_found,
    stack_filter,
    stack_paths,
    sync_tags,
    tag_specifications,
    tags_of,
)
from infradsl.providers.handler import (
    TOKEN_TAG,
    CreateResult,
    HandlerContext,
    ReadResult,
    UpdateResult,
    WaitFailedError,
    WaitTimeoutError,
    notify,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef

__all__ = ["ImageHandler", "image_identity"]

HASH_TAG = "infradsl:image-hash"
BUILDER_TAG = "infradsl:builder"
RETIRED_TAG = "infradsl:retired"
BUILD_OK = _provision.BUILD_OK
_OWN_TAGS = (HASH_TAG, RETIRED_TAG)
# How long a build may take on AWS, and how often it is polled.
BUILD_TIMEOUT = 3600.0
POLL_DELAY = 10.0
# Image availability: the local cloud is immediate; AWS takes minutes for a snapshot.
IMAGE_WAIT_DELAY = 5.0
IMAGE_WAIT_TIMEOUT = 3600.0
_LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def image_identity(props: Mapping[str, Any]) -> str:
    """What an image is tagged with: its content hash mixed with the resolved base AMI.

    A copy has the identity of its source (the same hash, another region).
    """
    content = str(props.get("content_hash") or "")
    if props.get("copy_of"):
        return content
    base = str(props.get("base") or "")
    return hashlib.sha256(f"{content}\0{base}".encode()).hexdigest()[:32]


class ImageHandler(Ec2Handler):
    """Golden AMIs: built from a base image and provisioning steps, reused by identity."""

    type_name: ClassVar[str] = "aws.ec2.Image"
    describe = Describe.of("Image")
    describe_params: ClassVar[Mapping[str, Any]] = {"Owners": ["self"]}
    gone_states: ClassVar[frozenset[str]] = frozenset(
        {"deregistered", "failed", "invalid", "error"}
    )

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        identity = image_identity(props)
        reused = self._available_with(ec2, identity)
        if reused is not None:
            notify(f"reusing {reused['ImageId']}, built from the same inputs")
            image_id = str(reused["ImageId"])
            if tags_of(reused.get("Tags")).get(RETIRED_TAG):
                ec2.delete_tags(Resources=[image_id], Tags=[{"Key": RETIRED_TAG}])
            return CreateResult(image_id, _attributes(reused))
        if props.get("copy_of"):
            image_id = self._copy(ec2, ctx, props, identity)
        else:
            image_id = self._build(ec2, ctx, props, identity)
        return CreateResult(image_id, _attributes(_wait_available(ec2, image_id)))

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        # The identity and retirement tags are the handler's own, never the user's.
        return {
            image_id: attrs.evolve(
                live,
                tags={k: v for k, v in (live.tags or {}).items() if k not in _OWN_TAGS},
            )
            for image_id, live in super().read(ctx, physical_ids).items()
        }

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        # Finishing a create found after a crash: its builder may still exist.
        _terminate_builders(ec2, [{"Name": f"tag:{BUILDER_TAG}", "Values": [ctx.creation_token]}])
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult(_attributes(_wait_available(ec2, physical_id)))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        family: list[FilterTypeDef] = [
            *stack_filter(ctx),
            {"Name": "tag:infradsl:path", "Values": [ctx.path]},
        ]
        _terminate_builders(ec2, family)
        # The images of this `Image` in this state (another state of a same-named stack
        # has another lineage, so other tokens).
        images = [
            i
            for i in self._select(ec2, family)
            if tags_of(i.get("Tags")).get(TOKEN_TAG, "").startswith(ctx.lineage[:8])
        ]
        if ctx.rollback:
            # Undoing this run's create: that image only. One reused from an earlier build
            # (not made by this creation) goes back to being a retired one.
            mine = [i for i in images if i["ImageId"] == physical_id]
            made_here = [
                i for i in mine if tags_of(i.get("Tags")).get(TOKEN_TAG) == ctx.creation_token
            ]
            if mine and not made_here:
                with ignore_not_found():
                    ec2.create_tags(
                        Resources=[physical_id], Tags=[{"Key": RETIRED_TAG, "Value": _now()}]
                    )
                return
            doomed = made_here
        elif ctx.retiring:
            with ignore_not_found():
                ec2.create_tags(
                    Resources=[physical_id], Tags=[{"Key": RETIRED_TAG, "Value": _now()}]
                )
            # Only retired images are pruned: the current one is in state (maybe reused,
            # so older by date than those it replaced), and the newest retired are kept.
            retired = sorted(
                (
                    i
                    for i in images
                    if RETIRED_TAG in tags_of(i.get("Tags")) or i["ImageId"] == physical_id
                ),
                key=lambda i: (
                    _now() if i["ImageId"] == physical_id else tags_of(i.get("Tags"))[RETIRED_TAG],
                    str(i.get("CreationDate", "")),
                ),
                reverse=True,
            )
            doomed = retired[max(int(props.get("keep") or 3) - 1, 0) :]
        else:
            doomed = images  # the Image itself goes: every image of it
        in_use = _images_in_use(ec2, [str(i["ImageId"]) for i in doomed])
        for image in doomed:
            image_id = str(image["ImageId"])
            if image_id in in_use:
                notify(f"keeping {image_id}: instance {in_use[image_id]} runs from it")
                continue
            _deregister(ec2, image)

    def discard(self, ctx: HandlerContext, props: Mapping[str, Any]) -> None:
        """Remove what a create that never finished left behind: its builder instances."""
        _terminate_builders(
            ec2_client(ctx), [{"Name": f"tag:{BUILDER_TAG}", "Values": [ctx.creation_token]}]
        )

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        # Retired images are kept on purpose (for rolling back), outside the state.
        live = [
            i
            for i in self._live(ec2_client(ctx), stack_filter(ctx))
            if RETIRED_TAG not in tags_of(i.get("Tags"))
        ]
        return stack_paths(ctx, live, self.describe.id_key)

    def _properties(self, item: Any) -> dict[str, Any]:
        return {}

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        return _attributes(item)

    def _when_found(self, ec2: EC2Client, item: Any) -> Any:
        # A create that died while the image was pending: wait as create does.
        return _wait_available(ec2, self._id(item))

    def _available_with(self, ec2: EC2Client, identity: str) -> Any | None:
        """The oldest available image of this account tagged with ``identity``, if any."""
        filters: list[FilterTypeDef] = [
            {"Name": f"tag:{HASH_TAG}", "Values": [identity]},
            {"Name": "state", "Values": ["available"]},
        ]
        mine = [
            i
            for i in self._select(ec2, filters)
            if tags_of(i.get("Tags")).get(HASH_TAG) == identity
        ]
        return (
            min(mine, key=lambda i: (str(i.get("CreationDate", "")), self._id(i))) if mine else None
        )

    def lookup(self, ctx: HandlerContext, query: Mapping[str, Any]) -> Mapping[str, ReadResult]:
        """The newest image matching ``id``, ``owner`` and ``name``."""
        kwargs: dict[str, Any] = {"Filters": [{"Name": "state", "Values": ["available"]}]}
        if query.get("id"):
            kwargs["ImageIds"] = [str(query["id"])]
        if query.get("owner"):
            kwargs["Owners"] = [str(query["owner"])]
        if query.get("name"):
            kwargs["Filters"].append({"Name": "name", "Values": [str(query["name"])]})
        images = ec2_client(ctx).describe_images(**kwargs).get("Images", [])
        if not images:
            return {}
        newest = max(images, key=lambda i: (str(i.get("CreationDate", "")), str(i["ImageId"])))
        return {
            str(newest["ImageId"]): ReadResult(
                properties={"name": newest.get("Name")},
                attributes=_attributes(newest),
                tags=tags_of(newest.get("Tags")),
            )
        }

    # -- building and copying ---------------------------------------------------------

    def _build(
        self, ec2: EC2Client, ctx: HandlerContext, props: Mapping[str, Any], identity: str
    ) -> str:
        local = getattr(ctx.clients, "endpoint_url", None) is not None
        bundle = _provision.bundle_for(props)
        for checked in _provision.check_statically(bundle, props.get("steps") or []):
            notify(checked)
        token_filter = [{"Name": f"tag:{BUILDER_TAG}", "Values": [ctx.creation_token]}]
        # A dead run's builder for this very creation: start over from the base image.
        _terminate_builders(ec2, token_filter)
        builder_tags = {
            **ctx.tags,
            "Name": f"{ctx.stack}/{ctx.path} (image builder)",
            BUILDER_TAG: ctx.creation_token,
        }
        builder_tags.pop(TOKEN_TAG)
        params: dict[str, Any] = {
            "ImageId": props["base"],
            "InstanceType": props.get("instance_type", "t3.small"),
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceInitiatedShutdownBehavior": "stop",
            "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "required"},
            "UserData": _provision.builder_user_data(bundle, props.get("steps") or []),
            "TagSpecifications": tag_specifications("instance", builder_tags),
        }
        if props.get("subnet"):
            params["SubnetId"] = props["subnet"]
        notify("launching the image builder")
        builder = str(ec2.run_instances(**params)["Instances"][0]["InstanceId"])
        try:
            if local:
                notify(f"builder {builder}: the local cloud does not boot it (steps checked)")
            else:
                _wait_build(ec2, builder)
            notify(f"creating the image from builder {builder}")
            image_tags = {**ctx.merged_tags(props), HASH_TAG: identity}
            image_id = str(
                ec2.create_image(
                    InstanceId=builder,
                    Name=_image_name(ctx, identity),
                    Description=f"infradsl image {ctx.stack}/{ctx.path} ({identity})",
                    NoReboot=True,
                    TagSpecifications=tag_specifications("image", image_tags),
                )["ImageId"]
            )
            _tag_snapshots(ec2, _wait_available(ec2, image_id), image_tags)
        finally:
            _terminate_builders(ec2, token_filter)
        return image_id

    def _copy(
        self, ec2: EC2Client, ctx: HandlerContext, props: Mapping[str, Any], identity: str
    ) -> str:
        image_tags = {**ctx.merged_tags(props), HASH_TAG: identity}
        notify(f"copying {props['copy_of']} from {props.get('source_region')}")
        image_id = str(
            ec2.copy_image(
                SourceImageId=props["copy_of"],
                SourceRegion=str(props.get("source_region") or ctx.region),
                Name=_image_name(ctx, identity),
                ClientToken=ctx.token("create")[:64],
                TagSpecifications=tag_specifications("image", image_tags),
            )["ImageId"]
        )
        # The local cloud ignores the copy's TagSpecifications: tag again (same values).
        ec2.create_tags(
            Resources=[image_id],
            Tags=[{"Key": k, "Value": v} for k, v in sorted(image_tags.items())],
        )
        _tag_snapshots(ec2, _wait_available(ec2, image_id), image_tags)
        return image_id


def _image_name(ctx: HandlerContext, identity: str) -> str:
    """``<stack>-<path>-<identity 12>-<suffix>``: unique per creation, readable in consoles."""
    return ctx.physical_name(128 - 13)[:-9] + f"-{identity[:12]}-{ctx.token('name')[:8]}"


def _tag_snapshots(ec2: EC2Client, image: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Tag the image's snapshots like the image (they exist once it is available)."""
    snapshots = _attributes(image)["snapshot_ids"]
    if snapshots:
        ec2.create_tags(
            Resources=list(snapshots),
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )


def _now() -> str:
    # Microseconds: two retirements within a second must still sort in order.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _attributes(image: Mapping[str, Any]) -> dict[str, Any]:
    snapshots = [
        str(m["Ebs"]["SnapshotId"])
        for m in image.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    return {
        "id": str(image["ImageId"]),
        "identity": tags_of(image.get("Tags")).get(HASH_TAG),
        "name": image.get("Name"),
        "snapshot_ids": sorted(snapshots),
    }


def _wait_available(ec2: EC2Client, image_id: str) -> Any:
    """Poll until the image is available (bounded); a failed image is an error."""
    deadline = time.monotonic() + IMAGE_WAIT_TIMEOUT
    state = "unknown"
    while True:
        images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
        if images:
            state = str(images[0].get("State", "unknown"))
            if state == "available":
                return images[0]
            if state in ("failed", "invalid", "error", "deregistered"):
                raise WaitFailedError(
                    f"image {image_id} is {state}: {images[0].get('StateReason')}",
                    resource=image_id,
                    wanted="available",
                    last_state=state,
                )
        if time.monotonic() > deadline:
            raise WaitTimeoutError(
                f"image {image_id} not available in time (last state: {state})",
                resource=image_id,
                wanted="available",
                last_state=state,
            )
        notify(f"image {image_id} is {state}; waiting")
        time.sleep(IMAGE_WAIT_DELAY)


def _wait_build(ec2: EC2Client, builder: str) -> None:
    """Wait until the builder powered itself off, then check the console for the marker."""
    deadline = time.monotonic() + BUILD_TIMEOUT
    state = "pending"
    while state != "stopped":
        reservations = ec2.describe_instances(InstanceIds=[builder]).get("Reservations", [])
        instances = [i for r in reservations for i in r.get("Instances", [])]
        state = str(instances[0].get("State", {}).get("Name")) if instances else "terminated"
        if state in ("terminated", "shutting-down"):
            raise WaitFailedError(
                f"image builder {builder} was {state} during the build",
                resource=builder,
                wanted="stopped",
                last_state=state,
            )
        if state == "stopped":
            break
        if time.monotonic() > deadline:
            raise WaitTimeoutError(
                f"image builder {builder} still {state} after {BUILD_TIMEOUT:.0f}s:\n"
                + _tail(_console(ec2, builder)),
                resource=builder,
                wanted="stopped",
                last_state=state,
            )
        notify(f"builder {builder} is {state}: provisioning")
        time.sleep(POLL_DELAY)
    console = _console(ec2, builder)
    if BUILD_OK not in console:
        raise _provision.ProvisionError(
            f"the image build failed on builder {builder}; the end of its console:\n"
            + _tail(console)
        )


def _console(ec2: EC2Client, builder: str) -> str:
    output = ec2.get_console_output(InstanceId=builder, Latest=True).get("Output") or ""
    try:
        return base64.b64decode(output).decode("utf-8", "replace")
    except ValueError:
        return output


def _tail(console: str) -> str:
    """The console's last 40 lines."""
    return "\n".join(console.splitlines()[-40:])


def _terminate_builders(ec2: EC2Client, filters: Iterable[Any]) -> None:
    """Terminate every live builder instance matching ``filters`` (not waiting for it)."""
    query = [
        *filters,
        {"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES},
    ]
    ids = [
        str(instance["InstanceId"])
        for reservation in describe_all(ec2, "describe_instances", "Reservations", Filters=query)
        for instance in reservation.get("Instances", [])
        if BUILDER_TAG in tags_of(instance.get("Tags"))
        and instance.get("State", {}).get("Name") in _LIVE_INSTANCE_STATES
    ]
    if ids:
        notify(f"terminating image builder {', '.join(sorted(ids))}")
        with ignore_not_found():
            ec2.terminate_instances(InstanceIds=ids)


def _images_in_use(ec2: EC2Client, image_ids: Sequence[str]) -> dict[str, str]:
    """Image id -> an instance (any stack) that runs from it, for ``image_ids``."""
    if not image_ids:
        return {}
    used: dict[str, str] = {}
    filters = [
        {"Name": "image-id", "Values": list(image_ids)},
        {"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES},
    ]
    for reservation in describe_all(ec2, "describe_instances", "Reservations", Filters=filters):
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") in _LIVE_INSTANCE_STATES:
                used.setdefault(str(instance["ImageId"]), str(instance["InstanceId"]))
    return used


def _deregister(ec2: EC2Client, image: Mapping[str, Any]) -> None:
    """Deregister an image, then delete its snapshots (gone already is fine)."""
    image_id = str(image["ImageId"])
    notify(f"deregistering {image_id} and its snapshots")
    with ignore_not_found():
        ec2.deregister_image(ImageId=image_id)
    for snapshot in _attributes(image)["snapshot_ids"]:
        with ignore_not_found():
            ec2.delete_snapshot(SnapshotId=snapshot)
