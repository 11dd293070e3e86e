"""Which handler serves which resource type."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from infradsl.providers.handler import ResourceHandler

__all__ = ["handler_for", "handlers"]

# type name -> (module, class); modules are imported on first use (boto3 is heavy).
_HANDLERS = {
    "aws.ec2.Vpc": ("network", "VpcHandler"),
    "aws.ec2.Subnet": ("network", "SubnetHandler"),
    "aws.ec2.InternetGateway": ("network", "InternetGatewayHandler"),
    "aws.ec2.ElasticIp": ("network", "ElasticIpHandler"),
    "aws.ec2.NatGateway": ("network", "NatGatewayHandler"),
    "aws.ec2.RouteTable": ("routing", "RouteTableHandler"),
    "aws.ec2.SecurityGroup": ("firewall", "SecurityGroupHandler"),
    "aws.ec2.SecurityGroupRule": ("firewall", "SecurityGroupRuleHandler"),
    "aws.ec2.Instance": ("compute", "InstanceHandler"),
    "aws.ec2.KeyPair": ("compute", "KeyPairHandler"),
    "aws.ec2.Volume": ("volumes", "VolumeHandler"),
    "aws.ec2.Image": ("images", "ImageHandler"),
    "aws.iam.Role": ("iam", "RoleHandler"),
    "aws.iam.Policy": ("iam_policy", "PolicyHandler"),
    "aws.iam.InstanceProfile": ("iam", "InstanceProfileHandler"),
    "aws.secrets.Secret": ("secrets", "SecretHandler"),
    "aws.s3.Bucket": ("s3", "BucketHandler"),
}
_cache: dict[str, ResourceHandler] = {}


def handler_for(type_name: str) -> ResourceHandler:
    """Return the handler of a resource type (``"aws.ec2.Vpc"``).

    Raises:
        KeyError: no handler for that type.
    """
    cached = _cache.get(type_name)
    if cached is not None:
        return cached
    if type_name not in _HANDLERS:
        raise KeyError(f"no handler for resource type {type_name!r}")
    module_name, class_name = _HANDLERS[type_name]
    module = importlib.import_module(f"infradsl.providers.aws.{module_name}")
    handler: ResourceHandler = getattr(module, class_name)()
    _cache[type_name] = handler
    return handler


# The service of each handler module's clients.
_SERVICES = {
    "network": "ec2",
    "routing": "ec2",
    "firewall": "ec2",
    "compute": "ec2",
    "volumes": "ec2",
    "images": "ec2",
    "iam": "iam",
    "iam_policy": "iam",
    "secrets": "secretsmanager",
    "s3": "s3",
}


def services_for(type_names: Iterable[str]) -> set[str]:
    """The AWS services whose clients the handlers of ``type_names`` use."""
    return {_SERVICES[_HANDLERS[t][0]] for t in type_names if t in _HANDLERS}


def handlers() -> list[str]:
    """Every type name that has a handler."""
    return sorted(_HANDLERS)
