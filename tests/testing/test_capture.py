from __future__ import annotations

from typing import Any

import pytest

from infradsl.testing import Capture, Match, Template


def security_groups(*ports: int) -> Template:
    resources: dict[str, Any] = {}
    for port in ports:
        resources[f"Sg{port}"] = {
            "type": "aws.ec2.SecurityGroup",
            "properties": {"name": f"sg-{port}", "port": port, "open": port == 443},
            "depends_on": [],
            "options": {},
        }
    return Template.from_dict({"stack": "demo", "resources": resources})


def captured(value: Any) -> Capture:
    capture = Capture()
    result = capture.test(value)
    assert result.ok
    result.commit()
    return capture


def test_a_capture_records_the_value_it_stood_for() -> None:
    t = Template.from_dict(
        {
            "resources": {
                "Web": {
                    "type": "aws.ec2.Instance",
                    "properties": {"subnet": {"ref": "Net/Public.id"}},
                }
            }
        }
    )
    subnet = Capture()
    t.has_resource_properties("aws.ec2.Instance", {"subnet": subnet})
    assert subnet.as_object() == {"ref": "Net/Public.id"}


def test_a_capture_keeps_nothing_from_candidates_that_did_not_match() -> None:
    name = Capture()
    security_groups(22, 443).has_resource_properties(
        "aws.ec2.SecurityGroup", {"name": name, "port": 443}
    )
    assert name.as_string() == "sg-443"
    assert name.next() is False


def test_a_capture_keeps_nothing_when_the_assertion_fails() -> None:
    name = Capture()
    with pytest.raises(AssertionError):
        security_groups(22, 443).has_resource_properties(
            "aws.ec2.SecurityGroup", {"name": name, "port": 80}
        )
    with pytest.raises(AssertionError, match=r"^Capture\(\) has captured nothing"):
        name.as_string()


def test_a_capture_keeps_nothing_when_all_resources_fails_on_another_resource() -> None:
    name = Capture()
    with pytest.raises(AssertionError):
        security_groups(22, 443).all_resources_properties(
            "aws.ec2.SecurityGroup", {"name": name, "port": 443}
        )
    with pytest.raises(AssertionError, match="has captured nothing"):
        name.as_string()


def test_a_capture_keeps_nothing_from_array_elements_that_did_not_match() -> None:
    rule = Capture()
    pattern = Match.array_with([{"port": 443, "source": rule}])
    result = pattern.test([{"port": 22, "source": "a"}, {"port": 443, "source": "b"}])
    result.commit()
    assert rule.as_string() == "b"
    assert rule.next() is False


def test_a_capture_inside_not_keeps_nothing() -> None:
    inner = Capture()
    result = Match.not_({"port": inner}).test({"port": "x", "other": 1})
    assert not result.ok
    result.commit()
    with pytest.raises(AssertionError, match="has captured nothing"):
        inner.as_string()


def test_next_walks_the_values_of_every_matching_resource_in_order() -> None:
    port = Capture()
    found = security_groups(22, 80, 443).find_resources(
        "aws.ec2.SecurityGroup", {"properties": {"port": port}}
    )
    assert list(found) == ["Sg22", "Sg80", "Sg443"]
    assert port.as_number() == 22
    assert port.next() is True
    assert port.as_number() == 80
    assert port.next() is True
    assert port.as_number() == 443
    assert port.next() is False
    assert port.as_number() == 443


def test_a_capture_with_a_pattern_only_records_matching_values() -> None:
    port = Capture(Match.not_(22))
    security_groups(22, 443).has_resource_properties("aws.ec2.SecurityGroup", {"port": port})
    assert port.as_number() == 443
    assert port.next() is False


def test_a_capture_with_a_pattern_reports_why_it_did_not_match() -> None:
    result = Capture(Match.string_like_regexp("^sg-")).test("x", "/name")
    assert [str(f) for f in result.failures] == [
        "at /name: expected a string matching '^sg-', got 'x'"
    ]


def test_a_capture_for_a_missing_key_fails() -> None:
    result = Match.object_like({"name": Capture()}).test({})
    assert [str(f) for f in result.failures] == ["at /name: missing key, expected Capture()"]


def test_a_capture_without_a_pattern_refuses_none() -> None:
    assert [str(f) for f in Capture().test(None).failures] == [
        "at /: expected any value to capture, got None"
    ]


def test_a_captured_value_is_a_copy() -> None:
    value = {"a": [1]}
    capture = captured(value)
    value["a"].append(2)
    assert capture.as_object() == {"a": [1]}


def test_committing_twice_records_once() -> None:
    capture = Capture()
    result = capture.test(1)
    result.commit()
    result.commit()
    assert capture.next() is False


def test_a_result_that_failed_commits_nothing() -> None:
    capture = Capture()
    result = Match.object_like({"a": capture, "b": 2}).test({"a": 1, "b": 3})
    result.commit()
    with pytest.raises(AssertionError, match="has captured nothing"):
        capture.as_number()


def test_each_as_method_returns_a_value_of_its_type() -> None:
    assert captured({"k": 1}).as_object() == {"k": 1}
    assert captured([1, 2]).as_array() == [1, 2]
    assert captured("s").as_string() == "s"
    assert captured(1.5).as_number() == 1.5
    assert captured(False).as_boolean() is False


def test_as_string_names_the_value_and_its_type_when_it_is_not_a_string() -> None:
    with pytest.raises(TypeError) as error:
        captured(443).as_string()
    assert str(error.value) == "captured value is not a string: 443 (int)"


def test_as_number_refuses_a_boolean() -> None:
    with pytest.raises(TypeError) as error:
        captured(True).as_number()
    assert str(error.value) == "captured value is not a number: True (bool)"


def test_as_boolean_refuses_a_number() -> None:
    with pytest.raises(TypeError, match=r"^captured value is not a boolean: 1 \(int\)$"):
        captured(1).as_boolean()


def test_as_object_and_as_array_refuse_the_other_kind() -> None:
    with pytest.raises(TypeError, match=r"^captured value is not an object: \[1\] \(list\)$"):
        captured([1]).as_object()
    with pytest.raises(TypeError, match=r"^captured value is not an array: \{\} \(dict\)$"):
        captured({}).as_array()


def test_reading_a_capture_that_captured_nothing_explains_why() -> None:
    with pytest.raises(AssertionError) as error:
        Capture(Match.any_value()).as_object()
    assert str(error.value) == (
        "Capture(any_value()) has captured nothing: no pattern it is in has matched yet"
    )


def test_next_on_an_empty_capture_returns_false() -> None:
    assert Capture().next() is False


def test_all_resources_properties_captures_from_every_resource_when_it_passes() -> None:
    name = Capture()
    security_groups(22, 443).all_resources_properties("aws.ec2.SecurityGroup", {"name": name})
    assert name.as_string() == "sg-22"
    assert name.next() is True
    assert name.as_string() == "sg-443"


def test_has_output_captures_the_value_when_it_matches() -> None:
    target = Capture()
    t = Template.from_dict({"resources": {}, "outputs": {"WebIp": {"ref": "Web.public_ip"}}})
    t.has_output("WebIp", {"ref": target})
    assert target.as_string() == "Web.public_ip"
