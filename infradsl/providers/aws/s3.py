"""Handler for S3 buckets: private, encrypted and tagged from the start.

Resolved properties, as the engine passes them: ``bucket_name``, ``versioned``,
``encryption`` (``"AES256"`` or ``"aws:kms"``), ``block_public_access``,
``force_destroy``, ``tags``. Properties left at ``None`` are absent.

Reads are batched (one call per page, never one per bucket): ``ListBuckets`` for which
buckets exist and the Resource Groups Tagging API's ``GetResources`` for their tags. S3
has no batch call for a bucket's versioning, encryption or public access block (each is a
``GetBucket...`` call per bucket), so those are not read back and not checked for drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import ClientError

from infradsl.providers.aws._wait import run_waiter
from infradsl.providers.handler import (
    TOKEN_TAG,
    CreateResult,
    HandlerContext,
    HandlerError,
    ReadResult,
    ResourceConflictError,
    UpdateResult,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.literals import (
        BucketLocationConstraintType,
        BucketVersioningStatusType,
        ServerSideEncryptionType,
    )
    from mypy_boto3_s3.type_defs import (
        ObjectIdentifierTypeDef,
        PublicAccessBlockConfigurationTypeDef,
        ServerSideEncryptionConfigurationTypeDef,
        TagTypeDef,
    )

__all__ = ["BucketHandler", "BucketNotEmptyError"]

# Bounded waiting for a bucket to appear or disappear (S3 is eventually consistent).
WAIT_DELAY = 5
WAIT_MAX_ATTEMPTS = 24
# DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000
_ALL_BLOCKED: PublicAccessBlockConfigurationTypeDef = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


class BucketNotEmptyError(HandlerError):
    """A bucket still holding objects was to be deleted without ``force_destroy``."""


def _s3(ctx: HandlerContext) -> S3Client:
    return cast("S3Client", ctx.clients.client("s3"))


def _bucket_tags(ctx: HandlerContext, names: set[str], **filters: Any) -> dict[str, dict[str, str]]:
    """The tags of buckets ``names`` of the region: one ``GetResources`` call per page.

    Buckets without tags are absent from the answer (and from the result). ``filters``
    go to ``GetResources`` (``TagFilters=...``).
    """
    tagging: Any = ctx.clients.client("resourcegroupstaggingapi")
    found: dict[str, dict[str, str]] = {}
    paginator = tagging.get_paginator("get_resources")
    for page in paginator.paginate(ResourceTypeFilters=["s3"], **filters):
        for mapping in page.get("ResourceTagMappingList", []):
            # arn:<partition>:s3:::<bucket>
            name = str(mapping.get("ResourceARN", "")).rpartition(":")[2]
            if name in names:
                found[name] = {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
    return found


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _tags_of(s3: S3Client, name: str) -> dict[str, str] | None:
    """GetBucketTagging: the bucket's tags (empty if it has none), None if it is not there
    (or not ours to read)."""
    try:
        tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
    except ClientError as error:
        if _code(error) == "NoSuchTagSet":
            return {}
        if _code(error) in ("NoSuchBucket", "AccessDenied", "AllAccessDisabled"):
            return None
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def _existing_names(ctx: HandlerContext) -> set[str]:
    """ListBuckets: every bucket name of the account (one call per page)."""
    names: set[str] = set()
    for page in _s3(ctx).get_paginator("list_buckets").paginate():
        names.update(b["Name"] for b in page.get("Buckets", []) if b.get("Name"))
    return names


def _attributes(ctx: HandlerContext, name: str) -> dict[str, Any]:
    return {
        "id": name,
        "arn": f"arn:aws:s3:::{name}",
        "domain_name": f"{name}.s3.{ctx.region}.amazonaws.com",
    }


class BucketHandler:
    """An S3 bucket; the bucket name is its physical id."""

    type_name: ClassVar[str] = "aws.s3.Bucket"

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        s3 = _s3(ctx)
        name = props.get("bucket_name") or ctx.physical_name(63, lower=True)
        # us-east-1 answers CreateBucket for a bucket the account already owns with a
        # success: there, as on BucketAlreadyOwnedByYou elsewhere, the tags tell whose it is.
        existed = ctx.region == "us-east-1"
        try:
            if ctx.region == "us-east-1":
                s3.create_bucket(Bucket=name)
            else:
                s3.create_bucket(
                    Bucket=name,
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", ctx.region)
                    },
                )
        except ClientError as error:
            if _code(error) != "BucketAlreadyOwnedByYou":
                raise
            existed = True
        if existed:
            self._refuse_foreign(ctx, name, generated=not props.get("bucket_name"))
        run_waiter(
            s3, "bucket_exists", delay=WAIT_DELAY, max_attempts=WAIT_MAX_ATTEMPTS, Bucket=name
        )
        try:
            if props.get("versioned"):
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            _put_encryption(s3, name, props.get("encryption", "AES256"))
            if props.get("block_public_access", True):
                s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=_ALL_BLOCKED)
            # Tagged last: the token tag marks a bucket whose creation finished, so `find`
            # never adopts one left unencrypted or public by a create that died half-way
            # (create run again takes an untagged one over and finishes it).
            s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": _tag_list(ctx.merged_tags(props))}
            )
        except BaseException:
            # The engine only learns ids from a successful create: leave nothing behind.
            self.delete(ctx, name, {})
            raise
        return CreateResult(name, _attributes(ctx, name))

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        if not physical_ids:
            return {}
        existing = _existing_names(ctx) & set(physical_ids)
        if not existing:
            return {}
        # Only the name is read back: S3 has no batch call for a bucket's versioning,
        # encryption or public access block, and a GetBucket... call per bucket would make
        # a refresh grow with the number of buckets. Tags come in one batch per page.
        tags = _bucket_tags(ctx, existing)
        return {
            name: ReadResult(
                properties={"bucket_name": name},
                attributes=_attributes(ctx, name),
                tags=tags.get(name, {}),
            )
            for name in sorted(existing)
        }

    def update(
        self,
        ctx: HandlerContext,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> UpdateResult:
        s3 = _s3(ctx)
        if bool(old.get("versioned")) != bool(new.get("versioned")):
            status: BucketVersioningStatusType = "Enabled" if new.get("versioned") else "Suspended"
            s3.put_bucket_versioning(Bucket=physical_id, VersioningConfiguration={"Status": status})
        if old.get("encryption", "AES256") != new.get("encryption", "AES256"):
            _put_encryption(s3, physical_id, new.get("encryption", "AES256"))
        blocked = new.get("block_public_access", True)
        if old.get("block_public_access", True) != blocked:
            if blocked:
                s3.put_public_access_block(
                    Bucket=physical_id, PublicAccessBlockConfiguration=_ALL_BLOCKED
                )
            else:
                s3.delete_public_access_block(Bucket=physical_id)
        if any(ctx.tag_changes(old, new)):
            # PutBucketTagging replaces the whole set; the merged set keeps the system tags,
            # and the live token (the creation's) is kept as it is.
            tags = ctx.merged_tags(new)
            live_token = (_tags_of(s3, physical_id) or {}).get(TOKEN_TAG)
            if live_token:
                tags[TOKEN_TAG] = live_token
            s3.put_bucket_tagging(Bucket=physical_id, Tagging={"TagSet": _tag_list(tags)})
        return UpdateResult(_attributes(ctx, physical_id))

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        s3 = _s3(ctx)
        try:
            if props.get("force_destroy"):
                _empty(s3, physical_id)
            s3.delete_bucket(Bucket=physical_id)
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                return
            if _code(error) == "BucketNotEmpty":
                raise BucketNotEmptyError(
                    f"bucket {physical_id!r} is not empty: empty it first, or set "
                    "force_destroy=True to have infradsl delete every object on delete"
                ) from error
            raise
        run_waiter(
            s3,
            "bucket_not_exists",
            delay=WAIT_DELAY,
            max_attempts=WAIT_MAX_ATTEMPTS,
            Bucket=physical_id,
        )

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """GetBucketTagging of the name create would use: adopted only if its token tag is
        this one. Create tags last, so an untagged bucket is one whose create died before
        finishing its configuration: not found, and create run again takes it over."""
        name = props.get("bucket_name") or ctx.physical_name(63, lower=True)
        tags = _tags_of(_s3(ctx), name)
        if tags is None or tags.get(TOKEN_TAG) != ctx.creation_token:
            return None
        return CreateResult(name, _attributes(ctx, name))

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        """ListBuckets and GetResources filtered by the stack tag: one call each per page."""
        existing = _existing_names(ctx)
        if not existing:
            return {}
        stack_filter = [{"Key": "infradsl:stack", "Values": [ctx.stack]}]
        tags = _bucket_tags(ctx, existing, TagFilters=stack_filter)
        return {
            name: tag.get("infradsl:path", "")
            for name, tag in sorted(tags.items())
            if tag.get("infradsl:stack") == ctx.stack
        }

    @staticmethod
    def _refuse_foreign(ctx: HandlerContext, name: str, *, generated: bool) -> None:
        """Raise unless the existing bucket ``name`` may be taken over by this creation.

        Ours (every system tag, the token included): a retry after a crash. Untagged: in
        us-east-1 a bucket just created (indistinguishable), elsewhere a bucket whose create
        died before tagging, taken over only if its name is generated (the name embeds this
        creation's token). Anything else is another state's or someone's.
        """
        tags = _tags_of(_s3(ctx), name)
        if tags is not None and all(tags.get(k) == v for k, v in ctx.tags.items()):
            return
        if tags == {} and (generated or ctx.region == "us-east-1"):
            return
        raise ResourceConflictError(
            "BucketAlreadyOwnedByYou",
            "CreateBucket",
            f"bucket {name!r} already exists and was not created by "
            f"{ctx.stack}/{ctx.path} in this state",
        )


def _put_encryption(s3: S3Client, name: str, algorithm: str) -> None:
    sse = cast("ServerSideEncryptionType", algorithm)
    config: ServerSideEncryptionConfigurationTypeDef = {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": sse}}]
    }
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=config)


def _empty(s3: S3Client, name: str) -> None:
    """Delete every object version and delete marker of bucket ``name``."""
    batch: list[ObjectIdentifierTypeDef] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": item["Key"], "VersionId": item["VersionId"]})
            if len(batch) == _DELETE_BATCH:
                s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
                batch = []
    if batch:
        s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
