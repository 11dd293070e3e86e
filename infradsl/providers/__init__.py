"""Providers: the handler protocol (create/read/update/delete) and its AWS implementations."""

from infradsl.providers.handler import (
    CreateResult,
    HandlerContext,
    ReadResult,
    ResourceHandler,
    UpdateResult,
)

__all__ = ["CreateResult", "HandlerContext", "ReadResult", "ResourceHandler", "UpdateResult"]
