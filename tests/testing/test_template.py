from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import infradsl.testing
from infradsl.testing import Match, Template


def webapp() -> dict[str, Any]:
    return {
        "infradsl": 1,
        "stack": "webapp",
        "region": "us-east-1",
        "resources": {
            "Net/Vpc": {
                "type": "aws.ec2.Vpc",
                "properties": {"cidr_block": "10.0.0.0/16"},
                "depends_on": [],
                "options": {},
            },
            "Net/Public": {
                "type": "aws.ec2.Subnet",
                "properties": {"vpc": {"ref": "Net/Vpc.id"}, "cidr_block": "10.0.1.0/24"},
                "depends_on": ["Net/Vpc"],
                "options": {},
            },
            "WebSg": {
                "type": "aws.ec2.SecurityGroup",
                "properties": {
                    "vpc": {"ref": "Net/Vpc.id"},
                    "ingress": [
                        {"protocol": "tcp", "from_port": 443, "to_port": 443, "source": "0.0.0.0/0"}
                    ],
                },
                "depends_on": ["Net/Vpc"],
                "options": {"protect": True},
            },
            "Web": {
                "type": "aws.ec2.Instance",
                "properties": {
                    "subnet": {"ref": "Net/Public.id"},
                    "user_data": {"join": ["#!/bin/sh\nfetch ", {"ref": "Db.arn"}, "\n"]},
                },
                "depends_on": ["Net/Public", "WebSg"],
                "options": {},
            },
        },
        "outputs": {"WebIp": {"ref": "Web.public_ip"}},
    }


def with_subnets(*cidrs: str) -> Template:
    doc = webapp()
    for index, cidr in enumerate(cidrs):
        doc["resources"][f"Net/Extra{index}"] = {
            "type": "aws.ec2.Subnet",
            "properties": {"vpc": {"ref": "Net/Vpc.id"}, "cidr_block": cidr},
            "depends_on": ["Net/Vpc"],
            "options": {},
        }
    return Template.from_dict(doc)


class FakeVpc:
    __infradsl_type__ = "aws.ec2.Vpc"


class FakeResource:
    def __init__(self, logical_id: str) -> None:
        self.logical_id = logical_id


def assertion_message(call: Any, *args: Any) -> str:
    with pytest.raises(AssertionError) as error:
        call(*args)
    return str(error.value)


# -- building ----------------------------------------------------------------------------


def test_from_dict_copies_the_document() -> None:
    doc = webapp()
    t = Template.from_dict(doc)
    doc["resources"].clear()
    t.resource_count_is("aws.ec2.Vpc", 1)


def test_to_json_returns_the_document_as_a_copy() -> None:
    t = Template.from_dict(webapp())
    doc = t.to_json()
    assert doc == webapp()
    doc["resources"].clear()
    assert t.to_json() == webapp()


def test_from_file_reads_a_json_document(tmp_path: Path) -> None:
    path = tmp_path / "webapp.json"
    path.write_text(json.dumps(webapp()), encoding="utf-8")
    assert Template.from_file(path).to_json() == webapp()
    assert Template.from_file(str(path)).to_json() == webapp()


def test_from_file_names_the_file_when_it_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not a JSON document"):
        Template.from_file(path)


def test_from_dict_rejects_a_resource_without_a_type() -> None:
    with pytest.raises(ValueError, match=r"resource 'Web' has no 'type' string"):
        Template.from_dict({"resources": {"Web": {"properties": {}}}})


def test_from_dict_rejects_something_that_is_not_a_document() -> None:
    with pytest.raises(ValueError, match=r"expected a dict, got \[\]"):
        Template.from_dict([])  # type: ignore[arg-type]


def test_from_stack_synthesizes_the_stack_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import infradsl.synth

    seen: list[object] = []

    def synthesize_stack(stack: object) -> dict[str, Any]:
        seen.append(stack)
        return webapp()

    monkeypatch.setattr(infradsl.synth, "synthesize_stack", synthesize_stack)
    stack = object()
    t = Template.from_stack(stack)  # type: ignore[arg-type]
    assert seen == [stack]
    assert t.to_json() == webapp()


def test_repr_names_the_stack_and_counts_resources() -> None:
    assert repr(Template.from_dict(webapp())) == "Template(stack='webapp', 4 resources)"


# -- counting and types ------------------------------------------------------------------


def test_resource_count_is_passes_on_the_right_count() -> None:
    t = Template.from_dict(webapp())
    t.resource_count_is("aws.ec2.Instance", 1)
    t.resource_count_is("aws.s3.Bucket", 0)


def test_resource_count_is_lists_what_it_found() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.resource_count_is, "aws.ec2.Instance", 2)
    assert message == "expected 2 aws.ec2.Instance, found 1: Web"


def test_resource_count_is_suggests_a_close_type_when_it_finds_none() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.resource_count_is, "aws.ec2.Vpcs", 1)
    assert message == "expected 1 aws.ec2.Vpcs, found 0; did you mean 'aws.ec2.Vpc'?"


def test_a_resource_class_is_accepted_as_the_type() -> None:
    t = Template.from_dict(webapp())
    t.resource_count_is(FakeVpc, 1)
    t.has_resource_properties(FakeVpc, {"cidr_block": "10.0.0.0/16"})
    assert list(t.find_resources(FakeVpc)) == ["Net/Vpc"]


def test_a_type_that_is_neither_a_name_nor_a_resource_class_is_refused() -> None:
    t = Template.from_dict(webapp())
    with pytest.raises(
        TypeError, match=r"resource class with __infradsl_type__ \(got <class 'int'>\)"
    ):
        t.resource_count_is(int, 1)


# -- has_resource / has_resource_properties ----------------------------------------------


def test_has_resource_matches_the_whole_entry() -> None:
    t = Template.from_dict(webapp())
    t.has_resource("aws.ec2.SecurityGroup", {"options": {"protect": True}})
    t.has_resource("aws.ec2.Instance", {"depends_on": ["Net/Public", "WebSg"]})


def test_has_resource_reports_paths_from_the_entry_root() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.has_resource, "aws.ec2.Vpc", {"options": {"protect": True}})
    assert message == (
        "No aws.ec2.Vpc matches. Closest: Net/Vpc (1 mismatch; 1 candidate)\n"
        "  at /options/protect: missing key, expected True"
    )


def test_has_resource_properties_matches_nested_patterns() -> None:
    t = Template.from_dict(webapp())
    t.has_resource_properties(
        "aws.ec2.SecurityGroup",
        {"ingress": Match.array_with([Match.object_like({"from_port": 443, "to_port": 443})])},
    )
    t.has_resource_properties("aws.ec2.Subnet", {"vpc": Match.ref("Net/Vpc")})


def test_has_resource_properties_names_the_closest_candidate_and_the_path() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(
        t.has_resource_properties, "aws.ec2.SecurityGroup", {"ingress": [{"from_port": 22}]}
    )
    assert message == (
        "No aws.ec2.SecurityGroup matches. Closest: WebSg (1 mismatch; 1 candidate)\n"
        "  at /properties/ingress/0/from_port: expected 22, got 443"
    )


def test_the_closest_candidate_is_the_one_with_fewest_mismatches() -> None:
    t = with_subnets("10.0.9.0/24", "10.0.7.0/24")
    pattern = {"cidr_block": "10.0.7.0/24", "vpc": Match.ref("Net/Other")}
    message = assertion_message(t.has_resource_properties, "aws.ec2.Subnet", pattern)
    assert message.startswith("No aws.ec2.Subnet matches. Closest: Net/Extra1 ")
    assert "(1 mismatch; 3 candidates)" in message


def test_a_tie_between_candidates_goes_to_the_first_path_in_sorted_order() -> None:
    t = with_subnets("10.0.9.0/24")
    message = assertion_message(t.has_resource_properties, "aws.ec2.Subnet", {"cidr_block": "x"})
    assert message.splitlines()[0] == (
        "No aws.ec2.Subnet matches. Closest: Net/Extra0 (1 mismatch; 2 candidates)"
    )


def test_every_mismatch_of_the_closest_candidate_is_listed_in_order() -> None:
    t = Template.from_dict(webapp())
    pattern = {"vpc": Match.ref("Net/Other"), "cidr_block": "10.0.2.0/24", "az": Match.any_value()}
    message = assertion_message(t.has_resource_properties, "aws.ec2.Subnet", pattern)
    assert message.splitlines()[1:] == [
        "  at /properties/vpc: expected ref('Net/Other.id'), got {'ref': 'Net/Vpc.id'}",
        "  at /properties/cidr_block: expected '10.0.2.0/24', got '10.0.1.0/24'",
        "  at /properties/az: missing key, expected any_value()",
    ]


def test_has_resource_properties_says_when_the_stack_has_no_resource_of_the_type() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.has_resource_properties, "aws.ec2.Subnets", {})
    assert message == (
        "No aws.ec2.Subnets matches: stack 'webapp' has no aws.ec2.Subnets; "
        "did you mean 'aws.ec2.Subnet'?"
    )


# -- find_resources / all_resources ------------------------------------------------------


def test_find_resources_returns_every_entry_of_the_type_by_path() -> None:
    t = with_subnets("10.0.9.0/24")
    found = t.find_resources("aws.ec2.Subnet")
    assert list(found) == ["Net/Public", "Net/Extra0"]
    assert found["Net/Public"] == webapp()["resources"]["Net/Public"]


def test_find_resources_filters_by_a_whole_entry_pattern() -> None:
    t = with_subnets("10.0.9.0/24")
    found = t.find_resources("aws.ec2.Subnet", {"properties": {"cidr_block": "10.0.9.0/24"}})
    assert list(found) == ["Net/Extra0"]
    assert t.find_resources("aws.ec2.Subnet", {"properties": {"cidr_block": "x"}}) == {}


def test_find_resources_returns_copies() -> None:
    t = Template.from_dict(webapp())
    t.find_resources("aws.ec2.Vpc")["Net/Vpc"]["type"] = "changed"
    t.resource_count_is("aws.ec2.Vpc", 1)


def test_all_resources_properties_passes_when_every_resource_matches() -> None:
    t = with_subnets("10.0.9.0/24")
    t.all_resources_properties("aws.ec2.Subnet", {"vpc": Match.ref("Net/Vpc")})


def test_all_resources_properties_lists_every_resource_that_does_not_match() -> None:
    t = with_subnets("10.0.9.0/24", "10.0.1.0/24")
    message = assertion_message(
        t.all_resources_properties, "aws.ec2.Subnet", {"cidr_block": "10.0.1.0/24"}
    )
    assert message == (
        "1 of 3 aws.ec2.Subnet do not match:\n"
        "  Net/Extra0\n"
        "    at /properties/cidr_block: expected '10.0.1.0/24', got '10.0.9.0/24'"
    )


def test_all_resources_properties_fails_when_there_is_no_resource_of_the_type() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.all_resources_properties, "aws.s3.Bucket", {})
    assert message == "expected every aws.s3.Bucket to match, but stack 'webapp' has none"


def test_all_resources_matches_whole_entries() -> None:
    t = Template.from_dict(webapp())
    t.all_resources("aws.ec2.Subnet", {"depends_on": ["Net/Vpc"]})
    message = assertion_message(t.all_resources, "aws.ec2.Subnet", {"options": {"protect": True}})
    assert message.splitlines()[2] == "    at /options/protect: missing key, expected True"


# -- outputs -----------------------------------------------------------------------------


def test_has_output_checks_the_output_exists_and_its_value() -> None:
    t = Template.from_dict(webapp())
    t.has_output("WebIp")
    t.has_output("WebIp", Match.ref("Web", "public_ip"))


def test_has_output_suggests_a_close_output_id() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.has_output, "WebIP")
    assert message == "No output 'WebIP' in stack 'webapp' (outputs: WebIp); did you mean 'WebIp'?"


def test_has_output_reports_how_the_value_differs() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.has_output, "WebIp", Match.ref("Web", "private_ip"))
    assert message == (
        "Output WebIp does not match\n"
        "  at /: expected ref('Web.private_ip'), got {'ref': 'Web.public_ip'}"
    )


def test_find_outputs_returns_all_outputs_or_those_that_match() -> None:
    doc = webapp()
    doc["outputs"]["Zone"] = "example.com"
    t = Template.from_dict(doc)
    assert t.find_outputs() == {"WebIp": {"ref": "Web.public_ip"}, "Zone": "example.com"}
    assert t.find_outputs(Match.string_like_regexp(r"\.com$")) == {"Zone": "example.com"}
    assert t.find_outputs("nothing") == {}


# -- resource lookup and ordering --------------------------------------------------------


def test_resource_returns_an_entry_by_path_or_by_resource_object() -> None:
    t = Template.from_dict(webapp())
    assert t.resource("Net/Vpc") == webapp()["resources"]["Net/Vpc"]
    assert t.resource(FakeResource("WebSg"))["options"] == {"protect": True}


def test_resource_suggests_a_close_path() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.resource, "Net/Vcp")
    assert message == "No resource 'Net/Vcp' in stack 'webapp'; did you mean 'Net/Vpc'?"


def test_deploys_before_follows_dependencies_transitively() -> None:
    t = Template.from_dict(webapp())
    t.deploys_before("Net/Public", "Web")
    t.deploys_before("Net/Vpc", "Web")
    t.deploys_before(FakeResource("Net/Vpc"), FakeResource("Net/Public"))


def test_deploys_before_says_when_the_order_is_the_other_way_round() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.deploys_before, "Web", "Net/Vpc")
    assert message == (
        "expected Web to deploy before Net/Vpc, but Net/Vpc does not depend on it, "
        "directly or transitively; it is the other way round: Web depends on Net/Vpc"
    )


def test_deploys_before_lists_the_dependencies_of_an_unrelated_resource() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.deploys_before, "Net/Public", "WebSg")
    assert message == (
        "expected Net/Public to deploy before WebSg, but WebSg does not depend on it, "
        "directly or transitively; WebSg depends on: Net/Vpc"
    )


def test_deploys_before_refuses_a_resource_and_itself() -> None:
    t = Template.from_dict(webapp())
    assert assertion_message(t.deploys_before, "Web", "Web") == "Web cannot deploy before itself"


def test_deploys_before_names_an_unknown_resource() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.deploys_before, "Net/Vpc", "Webb")
    assert message == "No resource 'Webb' in stack 'webapp'; did you mean 'Web'?"


def test_depends_on_checks_a_direct_edge() -> None:
    t = Template.from_dict(webapp())
    t.depends_on("Web", "WebSg")
    message = assertion_message(t.depends_on, "Web", "Net/Vpc")
    assert message == (
        "expected Web to depend directly on Net/Vpc; its depends_on is ['Net/Public', 'WebSg'] "
        "(Net/Vpc is only a transitive dependency)"
    )


def test_depends_on_reports_a_missing_edge() -> None:
    t = Template.from_dict(webapp())
    message = assertion_message(t.depends_on, "Net/Vpc", "Web")
    assert message == "expected Net/Vpc to depend directly on Web; its depends_on is []"


# -- the package -------------------------------------------------------------------------


def test_the_package_exports_exactly_template_match_and_capture() -> None:
    assert sorted(infradsl.testing.__all__) == ["Capture", "Match", "Template"]
    for name in infradsl.testing.__all__:
        assert getattr(infradsl.testing, name).__module__.startswith("infradsl.testing.")


def test_importing_the_package_loads_no_cloud_or_cli_library() -> None:
    heavy = ["boto3", "botocore", "rich", "click", "networkx", "infradsl.synth"]
    code = f"import sys, infradsl.testing; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
