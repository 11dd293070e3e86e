"""Resource declarations per AWS service: attrs classes, no boto3.

A service's module loads when first used: ``from infradsl.aws import ec2``, the attribute
``infradsl.aws.ec2``, or `resource_type` of one of its types. What generic code needs to
know about a type is read from its description (`infradsl.core.typeinfo`), which loads
no declaration.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from infradsl.core import resource as _resource

if TYPE_CHECKING:
    from infradsl.aws import ec2, iam, s3, secrets
    from infradsl.core.resource import Resource

__all__ = ["ec2", "iam", "resource_type", "s3", "secrets"]

_SERVICES = ("ec2", "iam", "s3", "secrets")
"""The service modules of the catalog (type names are ``aws.<service>.<Class>``)."""


def __getattr__(name: str) -> ModuleType:
    if name in _SERVICES:
        return importlib.import_module(f"infradsl.aws.{name}")
    raise AttributeError(f"module 'infradsl.aws' has no attribute {name!r}")


def resource_type(type_name: str) -> type[Resource]:
    """The class declared for a synthesized type name (``"aws.ec2.Vpc"``), its service's
    module imported first.

    Raises:
        KeyError: no such type; the message suggests close names (every service is
            imported to find them).
    """
    parts = type_name.split(".")
    services = [parts[1]] if len(parts) == 3 and parts[1] in _SERVICES else _SERVICES
    for service in services:
        importlib.import_module(f"infradsl.aws.{service}")
    return _resource.resource_type(type_name)
