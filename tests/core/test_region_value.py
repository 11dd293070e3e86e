"""Values that differ by region, picked by the stack's region: one stack class, many regions."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from infradsl import App, Construct, Stack, ValidationError
from infradsl.aws import ec2
from infradsl.errors import ConstructError
from infradsl.testing import Template

AMI = {"us-east-1": "ami-11111111", "eu-west-1": "ami-22222222"}
ZONES = {"us-east-1": ("us-east-1a", "us-east-1b"), "eu-west-1": ("eu-west-1b", "eu-west-1c")}


class Web(Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
        subnets = [
            ec2.Subnet(
                self,
                f"Public{index}",
                vpc=vpc,
                cidr_block=f"10.0.{index}.0/24",
                availability_zone=zone,
            )
            for index, zone in enumerate(self.region_value(ZONES, name="ZONES"), start=1)
        ]
        ec2.Instance(
            self,
            "Web",
            subnet=subnets[0],
            image=self.region_value(AMI, name="AMI"),
            instance_type=self.region_value({"eu-west-1": "t3.small"}, default="t3.micro"),
        )


def test_each_replica_of_a_stack_class_gets_its_regions_values() -> None:
    app = App()
    east, west = Web(app, "web-east", region="us-east-1"), Web(app, "web-west", region="eu-west-1")
    t_east, t_west = Template.from_stack(east), Template.from_stack(west)
    t_east.has_resource_properties(
        ec2.Instance, {"image": "ami-11111111", "instance_type": "t3.micro"}
    )
    t_west.has_resource_properties(
        ec2.Instance, {"image": "ami-22222222", "instance_type": "t3.small"}
    )
    subnets = t_west.find_resources(ec2.Subnet).values()
    zones = [entry["properties"]["availability_zone"] for entry in subnets]
    assert sorted(zones) == ["eu-west-1b", "eu-west-1c"]


def test_a_region_missing_from_the_mapping_is_an_error_naming_it_and_the_stack() -> None:
    with pytest.raises(ValidationError) as info:
        Web(App(), "web-tokyo", region="ap-northeast-1")
    (problem,) = info.value.problems
    assert problem.path == "web-tokyo"
    assert problem.message == (
        "ZONES has no value for region 'ap-northeast-1', where stack 'web-tokyo' is deployed "
        "(it has eu-west-1, us-east-1): add an entry for 'ap-northeast-1', or pass default="
    )
    assert __file__.endswith(problem.location.rsplit(":", 1)[0])


def test_the_error_points_at_the_users_line_and_suggests_a_misspelt_region() -> None:
    stack = Stack(App(), "web", region="eu-west-1")
    with pytest.raises(ValidationError) as info:
        line = sys._getframe().f_lineno + 1
        stack.region_value({"eu-west1": "ami-22222222"})
    (problem,) = info.value.problems
    filename, reported = problem.location.rsplit(":", 1)
    assert __file__.endswith(filename)
    assert int(reported) == line
    assert "the mapping has no value for region 'eu-west-1'" in problem.message
    assert "(did you mean 'eu-west1'?)" in problem.message


def test_an_empty_mapping_says_so() -> None:
    with pytest.raises(ValidationError, match=r"IMAGES has no value .* \(it is empty\)"):
        Stack(App(), "web").region_value({}, name="IMAGES")


def test_the_error_comes_with_the_problems_collected_before_it() -> None:
    app = App()
    Stack(app, "bad", region="mars-1")
    stack = Stack(app, "web", region="eu-west-1")
    with pytest.raises(ValidationError) as info:
        stack.region_value({"us-east-1": 1}, name="SIZES")
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2
    assert any("must be an AWS region" in m for m in messages)
    assert any(m.startswith("SIZES has no value for region 'eu-west-1'") for m in messages)


def test_a_default_is_used_for_regions_not_in_the_mapping() -> None:
    stack = Stack(App(), "web", region="ap-south-1")
    assert stack.region_value({"us-east-1": 3}, default=1) == 1
    assert stack.region_value({"ap-south-1": 0}, default=1) == 0
    assert stack.region_value({}, default=None) is None


def test_a_component_finds_its_stack_and_region_with_stack_of() -> None:
    class Part(Construct):
        def __init__(self, scope: Construct, id: str) -> None:
            super().__init__(scope, id)
            self.image = Stack.of(self).region_value(AMI)

    app = App()
    inner = Construct(Stack(app, "web", region="eu-west-1"), "Tier")
    assert Part(inner, "Part").image == "ami-22222222"


def test_stack_of_outside_a_stack_is_an_error() -> None:
    with pytest.raises(ConstructError, match="Loose is not inside a Stack"):
        Stack.of(Construct(App(), "Loose"))
