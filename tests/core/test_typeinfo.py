"""Type descriptions as data: the data file matches the declarations, and generic layers
read it without importing the catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from infradsl.aws._typedata import catalog_type_info, catalog_type_names, render
from infradsl.core.resource import Resource, prop, resource, resource_type
from infradsl.core.typeinfo import (
    TypeInfo,
    TypeInfoError,
    data_path,
    find_type_info,
    register_type_info,
    try_find_type_info,
    type_info,
    unregister_type_info,
)

DATA = data_path("aws")
REGENERATE = "python -m pytest tests/core/test_typeinfo.py --update-golden"


def _file_infos() -> dict[str, TypeInfo]:
    document = json.loads(DATA.read_text(encoding="utf-8"))
    return {name: TypeInfo.from_json(name, data) for name, data in document["types"].items()}


def test_the_data_file_matches_the_declarations(update_golden: bool) -> None:
    expected = render(catalog_type_info(_file_infos()))
    if update_golden:
        DATA.write_text(expected, encoding="utf-8")
    assert DATA.read_text(encoding="utf-8") == expected, (
        f"{DATA} is stale (a declaration changed): regenerate it with `{REGENERATE}`"
    )


def test_every_replace_true_property_is_create_only_in_the_data() -> None:
    infos = _file_infos()
    assert sorted(infos) == catalog_type_names()
    for name in catalog_type_names():
        cls = resource_type(name)
        declared = [n for n, f in cls._props.items() if f.metadata.get("replace")]
        top_level = [p for p in infos[name].create_only if "/" not in p]
        assert top_level == declared, name


def test_the_hand_written_fields_survive_regeneration() -> None:
    infos = catalog_type_info(_file_infos())
    assert infos["aws.iam.Role"].widens_permissions
    assert not infos["aws.iam.Role"].regional
    assert infos["aws.ec2.SecurityGroup"].widens_permissions
    assert infos["aws.ec2.Subnet"].cidr_within == ("vpc", "cidr_block")
    assert not infos["aws.ec2.Vpc"].widens_permissions
    assert infos["aws.ec2.SecurityGroup"].deferrable == ("ingress", "egress")
    assert infos["aws.ec2.Instance"].taggable
    assert not infos["aws.ec2.SecurityGroupRule"].taggable


# declarations outside the catalog --------------------------------------------------


@attrs.frozen(kw_only=True)
class Port:
    protocol: str = attrs.field(metadata={"replace": True})
    number: int = 0


@resource("test.typeinfo.Listener")
class Listener(Resource):
    name: str = prop(str, replace=True)
    ports: list[Any] = prop(list, items=(Port,), factory=list)
    main: Port | None = prop(Port, default=None)
    peer: Resource | None = prop(Resource, default=None)


def test_nested_create_only_paths_come_from_value_object_fields() -> None:
    info = type_info("test.typeinfo.Listener")
    assert info.create_only == ("name", "ports/*/protocol", "main/protocol")
    assert info.properties == ("name", "ports", "main", "peer")
    assert info.read_only == ("id",)
    assert info.create_only_of("ports") == (("ports", "*", "protocol"),)
    assert info.create_only_of("peer") == ()


@pytest.fixture
def registered() -> Iterator[TypeInfo]:
    info = TypeInfo(name="test.typeinfo.Registered", create_only=("a/b",), widens_permissions=True)
    register_type_info(info)
    yield info
    unregister_type_info(info.name)


def test_a_registered_description_is_found_by_name(registered: TypeInfo) -> None:
    assert find_type_info("test.typeinfo.Registered") is registered


def test_an_unknown_type_has_no_description_but_defaults() -> None:
    assert try_find_type_info("aws.ec2.Nothing") is None
    assert type_info("aws.ec2.Nothing") == TypeInfo(name="aws.ec2.Nothing")
    with pytest.raises(KeyError, match=r"unknown resource type 'aws\.ec2\.Vcp'.*'aws\.ec2\.Vpc'"):
        find_type_info("aws.ec2.Vcp")


def test_a_misspelt_field_in_the_data_is_reported_with_a_suggestion() -> None:
    with pytest.raises(TypeInfoError) as caught:
        TypeInfo.from_json("aws.x.Y", {"create_onyl": ["a"]})
    assert str(caught.value) == (
        "type 'aws.x.Y': unknown field 'create_onyl' (did you mean 'create_only'?)"
    )


def test_a_cidr_rule_needs_two_property_names() -> None:
    with pytest.raises(TypeInfoError, match=r"type 'aws\.x\.Y': expected two property names"):
        TypeInfo.from_json("aws.x.Y", {"cidr_within": ["vpc"]})


def test_json_keeps_only_what_differs_from_the_defaults() -> None:
    info = TypeInfo(name="aws.x.Y", create_only=["a"], regional=False)
    assert info.to_json() == {"create_only": ["a"], "regional": False}
    assert TypeInfo.from_json("aws.x.Y", info.to_json()) == info


def test_planning_and_the_confirmation_policy_do_not_import_the_catalog() -> None:
    script = """
import json, sys
from infradsl.core.typeinfo import find_type_info
from infradsl.plan.planner import plan_stack
from infradsl.state.model import ResourceState, StackState
doc = {"infradsl": 1, "stack": "s", "region": "us-east-1", "outputs": {}, "resources": {
    "Web": {"type": "aws.ec2.Instance", "properties": {"image": "ami-2"},
            "depends_on": [], "options": {}},
    "Role": {"type": "aws.iam.Role", "properties": {}, "depends_on": [], "options": {}}}}
state = StackState("s", "local", "us-east-1", 1, resources={
    "Web": ResourceState("aws.ec2.Instance", "i-1", {"image": "ami-1"}, {"image": "ami-1"},
                         {"id": "i-1"})})
plan = plan_stack(doc, state)
print(json.dumps({
    "actions": [c.action.verb for c in plan.changes],
    "confirm": plan.confirmation_reasons(),
    "catalog": sorted(m for m in sys.modules if m.startswith("infradsl.aws.")),
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["actions"] == ["create", "replace"]
    assert found["confirm"] == [
        "Role (aws.iam.Role) widens permissions or network access",
        "Web will be replaced",
    ]
    assert found["catalog"] == []


def test_a_cycle_through_a_hinted_property_gets_the_types_hint() -> None:
    from infradsl import App, Stack
    from infradsl.aws import ec2
    from infradsl.synth import validate

    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24")
    address = ec2.ElasticIp(stack, "Ip")
    web = ec2.Instance(
        stack,
        "Web",
        image="ami-12345678",
        instance_type="t3.micro",
        subnet=subnet,
        user_data=f"#!/bin/sh\necho {address.public_ip}\n",
    )
    address.instance = web
    (problem,) = validate(app)
    hint = type_info("aws.ec2.ElasticIp").cycle_hints["instance"]
    assert problem.message == (
        "dependency cycle: Ip -> Web -> Ip; remove one of these references or depends_on; " + hint
    )


def test_the_catalog_loads_a_service_when_it_is_first_used() -> None:
    script = """
import json, sys
import infradsl.aws
loaded = lambda: sorted(m for m in sys.modules if m.startswith("infradsl.aws."))
first = loaded()
infradsl.aws.resource_type("aws.s3.Bucket")
second = loaded()
from infradsl.aws import iam
print(json.dumps([first, second, loaded(), iam.Role.__infradsl_type__]))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    first, second, third, role = json.loads(result.stdout.strip().splitlines()[-1])
    assert first == []
    assert "infradsl.aws.s3" in second and "infradsl.aws.ec2" not in second
    assert "infradsl.aws.iam" in third
    assert role == "aws.iam.Role"


def _registry_schema(cfn_type: str) -> dict[str, Any]:
    """A CloudFormation registry schema as cfn-lint (installed with moto) ships it."""
    cfnlint = pytest.importorskip("cfnlint")
    from pathlib import Path

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    index = json.loads((schemas / "providers" / "us-east-1.json").read_text())
    entry = index[cfn_type]
    digest = entry["hash"] if isinstance(entry, dict) else entry
    schema: dict[str, Any] = json.loads((schemas / "resources" / f"{digest}.json").read_text())
    return schema


def test_a_registry_schema_gives_a_description_of_the_same_shape() -> None:
    from infradsl.core.typeinfo import from_registry_schema

    info = from_registry_schema(
        "aws.ec2.SecurityGroup", _registry_schema("AWS::EC2::SecurityGroup")
    )
    assert info.identifier == ("id",)
    assert {"group_description", "group_name", "vpc_id"} <= set(info.create_only)
    assert "security_group_ingress/*/source_security_group_name" in info.write_only
    assert "group_id" in info.read_only
    assert "security_group_ingress" in info.properties
    # The declaration says the same things under infradsl's names.
    ours = find_type_info("aws.ec2.SecurityGroup")
    assert {"description", "group_name", "vpc"} <= set(ours.create_only)
