"""Resource declarations per AWS service: attrs classes, no boto3."""

from infradsl.aws import ec2, iam, s3, secrets
from infradsl.core.resource import resource_type

__all__ = ["ec2", "iam", "resource_type", "s3", "secrets"]
