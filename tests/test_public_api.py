"""The public surface is curated: what is exported is exactly what is documented."""

from __future__ import annotations

import infradsl
from infradsl import aws
from infradsl.aws import ec2, iam, s3, secrets


def test_the_top_level_package_exports_exactly_the_public_api() -> None:
    assert sorted(infradsl.__all__) == [
        "App",
        "Construct",
        "InfraDslError",
        "Output",
        "Reference",
        "Resource",
        "ResourceOptions",
        "Stack",
        "ValidationError",
        "__version__",
    ]
    for name in infradsl.__all__:
        assert hasattr(infradsl, name)


def test_every_catalog_type_is_exported_with_its_synthesized_type_name() -> None:
    catalog = {
        ec2: [
            "ElasticIp",
            "Instance",
            "InternetGateway",
            "KeyPair",
            "NatGateway",
            "RouteTable",
            "SecurityGroup",
            "SecurityGroupRule",
            "Subnet",
            "Volume",
            "Vpc",
        ],
        iam: ["InstanceProfile", "Policy", "Role"],
        secrets: ["Secret"],
        s3: ["Bucket"],
    }
    for module, names in catalog.items():
        service = module.__name__.rsplit(".", 1)[1]
        for name in names:
            assert name in module.__all__
            cls = getattr(module, name)
            assert cls.__infradsl_type__ == f"aws.{service}.{name}"
            assert cls.__doc__, f"{name} needs a docstring"
    assert aws.__all__ == ["ec2", "iam", "resource_type", "s3", "secrets"]
    assert aws.resource_type("aws.ec2.Vpc") is ec2.Vpc


def test_every_public_module_starts_with_a_docstring() -> None:
    import pkgutil

    for info in pkgutil.walk_packages(infradsl.__path__, "infradsl."):
        if info.name.rsplit(".", 1)[-1].startswith("_") or info.name.startswith(
            ("infradsl.cli", "infradsl.testing.plugin")
        ):
            continue
        module = __import__(info.name, fromlist=["_"])
        assert module.__doc__, f"{info.name} has no docstring"
