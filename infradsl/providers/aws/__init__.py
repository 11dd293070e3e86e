"""Handlers for the AWS catalog, through boto3. The only layer here that imports boto3."""

from infradsl.providers.aws.registry import handler_for, handlers

__all__ = ["handler_for", "handlers"]
