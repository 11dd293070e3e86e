"""S3 buckets.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import s3
    >>> bucket = s3.Bucket(Stack(App(), "demo"), "Logs", versioned=True)
"""

from __future__ import annotations

from infradsl.aws import _validators as v
from infradsl.aws._common import Taggable
from infradsl.core.reference import attribute
from infradsl.core.resource import prop, resource

__all__ = ["Bucket"]


@resource("aws.s3.Bucket")
class Bucket(Taggable):
    """An S3 bucket, private and encrypted by default.

    Args:
        bucket_name: a fixed, globally unique name (3..63 lowercase letters, digits, ``-``,
            ``.``); generated from the stack and path when omitted.
        versioned: keep every version of every object.
        encryption: ``"AES256"`` or ``"aws:kms"``.
        block_public_access: block every form of public access (default on).
        force_destroy: empty the bucket before deleting it.
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> Bucket(Stack(App(), "demo"), "Logs").arn
        Reference(Logs.arn)
    """

    bucket_name: str | None = prop(
        str,
        default=None,
        check=v.matches(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "my-app-logs"),
        replace=True,
    )
    versioned: bool = prop(bool, default=False)
    encryption: str = prop(str, default="AES256", check=v.choice(("AES256", "aws:kms")))
    block_public_access: bool = prop(bool, default=True)
    force_destroy: bool = prop(bool, default=False)

    arn = attribute("The bucket's ARN.")
    domain_name = attribute("The bucket's regional domain name.")
