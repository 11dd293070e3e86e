"""Resource declarations per AWS service: attrs classes, no boto3."""

from infradsl.aws import ec2, iam, s3, secrets

__all__ = ["ec2", "iam", "s3", "secrets"]
