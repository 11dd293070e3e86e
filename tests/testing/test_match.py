from __future__ import annotations

from typing import Any

import pytest

from infradsl.testing import Match
from infradsl.testing.match import MISSING, MatchFailure, as_matcher


def failures(pattern: Any, actual: Any) -> list[str]:
    return [str(failure) for failure in as_matcher(pattern).test(actual).failures]


class FakeResource:
    logical_id = "Net/Vpc"


class FakeReference:
    target = FakeResource()
    attribute = "arn"


# -- literals ----------------------------------------------------------------------------


def test_a_scalar_literal_matches_an_equal_value() -> None:
    assert failures(443, 443) == []
    assert failures("tcp", "tcp") == []
    assert failures(None, None) == []


def test_a_scalar_literal_reports_expected_and_got() -> None:
    assert failures(22, 443) == ["at /: expected 22, got 443"]
    assert failures("tcp", "udp") == ["at /: expected 'tcp', got 'udp'"]


def test_true_does_not_match_one_and_false_does_not_match_zero() -> None:
    assert failures(True, 1) == ["at /: expected True, got 1"]
    assert failures(1, True) == ["at /: expected 1, got True"]
    assert failures(0, False) == ["at /: expected 0, got False"]


def test_an_int_matches_an_equal_float() -> None:
    assert failures(1, 1.0) == []


def test_a_plain_dict_in_a_pattern_is_object_like() -> None:
    assert failures({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}) == []


def test_a_plain_list_in_a_pattern_must_have_exactly_those_elements() -> None:
    assert failures([1, 2], [1, 2]) == []
    assert failures([1, 2], [1, 2, 3]) == ["at /: expected 2 elements, got 3"]


def test_dicts_inside_a_plain_list_are_object_like() -> None:
    assert failures([{"port": 22}], [{"port": 22, "protocol": "tcp"}]) == []


def test_long_values_are_shortened_in_messages() -> None:
    [message] = failures("x", "y" * 200)
    assert message == f"at /: expected 'x', got '{'y' * 76}..."


# -- object_like / object_equals ---------------------------------------------------------


def test_object_like_ignores_extra_keys() -> None:
    assert failures(Match.object_like({"a": 1}), {"a": 1, "b": 2}) == []


def test_object_like_reports_a_missing_key_with_its_path() -> None:
    assert failures(Match.object_like({"vpc": {"cidr": "10.0.0.0/16"}}), {"vpc": {}}) == [
        "at /vpc/cidr: missing key, expected '10.0.0.0/16'"
    ]


def test_object_like_reports_every_mismatch_in_pattern_order() -> None:
    pattern = Match.object_like({"b": 1, "a": 2})
    assert failures(pattern, {"a": 3, "b": 4}) == [
        "at /b: expected 1, got 4",
        "at /a: expected 2, got 3",
    ]


def test_object_like_rejects_a_value_that_is_not_an_object() -> None:
    assert failures(Match.object_like({"a": 1}), [1]) == ["at /: expected an object, got [1]"]


def test_object_like_escapes_slashes_and_tildes_in_paths() -> None:
    assert failures({"tags": {"k8s.io/role~x": "a"}}, {"tags": {"k8s.io/role~x": "b"}}) == [
        "at /tags/k8s.io~1role~0x: expected 'a', got 'b'"
    ]


def test_object_like_requires_a_dict_pattern() -> None:
    with pytest.raises(TypeError, match=r"Match.object_like\(\) takes a dict \(got \[1\]\)"):
        Match.object_like([1])  # type: ignore[arg-type]


def test_object_equals_reports_unexpected_keys_sorted() -> None:
    pattern = Match.object_equals({"a": 1})
    assert failures(pattern, {"c": 3, "a": 1, "b": 2}) == [
        "at /b: unexpected key, got 2",
        "at /c: unexpected key, got 3",
    ]


def test_object_equals_compares_nested_dicts_exactly() -> None:
    pattern = Match.object_equals({"a": {"b": 1}})
    assert failures(pattern, {"a": {"b": 1, "c": 2}}) == ["at /a/c: unexpected key, got 2"]


def test_object_equals_still_honours_nested_matchers() -> None:
    pattern = Match.object_equals({"a": Match.object_like({"b": 1})})
    assert failures(pattern, {"a": {"b": 1, "c": 2}}) == []


# -- array_with / array_equals -----------------------------------------------------------


def test_array_with_finds_items_as_an_ordered_subsequence() -> None:
    assert failures(Match.array_with([1, 3]), [0, 1, 2, 3, 4]) == []


def test_array_with_rejects_items_out_of_order() -> None:
    assert failures(Match.array_with([3, 1]), [1, 2, 3]) == [
        "at /: no element after index 2 matches item 1 (1)"
    ]


def test_array_with_names_the_closest_element_and_its_differences() -> None:
    rules = [{"from_port": 80, "to_port": 81}, {"from_port": 443, "to_port": 22}]
    pattern = Match.array_with([{"from_port": 22, "to_port": 22}])
    assert failures({"ingress": pattern}, {"ingress": rules}) == [
        "at /ingress: no element matches item 0 (object_like({'from_port': 22, 'to_port': 22})); "
        "closest is element 1",
        "at /ingress/1/from_port: expected 22, got 443",
    ]


def test_array_with_reports_an_empty_array() -> None:
    assert failures(Match.array_with([1]), []) == [
        "at /: expected an array with item 0 (1), got []"
    ]


def test_array_with_rejects_a_value_that_is_not_an_array() -> None:
    assert failures(Match.array_with([1]), "1") == ["at /: expected an array, got '1'"]


def test_array_with_requires_a_list_pattern() -> None:
    with pytest.raises(TypeError, match=r"Match.array_with\(\) takes a list \(got 'ab'\)"):
        Match.array_with("ab")


def test_array_equals_compares_each_index() -> None:
    assert failures(Match.array_equals([1, 2]), [1, 2]) == []
    assert failures(Match.array_equals([1, 2]), [1, 5]) == ["at /1: expected 2, got 5"]


def test_array_equals_reports_a_length_difference_and_the_common_prefix() -> None:
    assert failures(Match.array_equals([1, 2, 3]), [9]) == [
        "at /: expected 3 elements, got 1",
        "at /0: expected 1, got 9",
    ]


# -- exact, any_value, absent, not_ ------------------------------------------------------


def test_exact_compares_deeply_without_extra_keys() -> None:
    assert failures(Match.exact({"a": [{"b": 1}]}), {"a": [{"b": 1}]}) == []
    assert failures(Match.exact({"a": [{"b": 1}]}), {"a": [{"b": 1, "c": 2}]}) == [
        "at /a/0/c: unexpected key, got 2"
    ]


def test_exact_refuses_a_matcher() -> None:
    with pytest.raises(TypeError, match=r"Match.exact\(\) takes a plain value, not a matcher"):
        Match.exact(Match.any_value())


def test_any_value_matches_anything_present_but_none() -> None:
    assert failures({"a": Match.any_value()}, {"a": [0]}) == []
    assert failures({"a": Match.any_value()}, {"a": None}) == [
        "at /a: expected any value, got None"
    ]
    assert failures({"a": Match.any_value()}, {}) == ["at /a: missing key, expected any_value()"]


def test_absent_matches_only_a_missing_key() -> None:
    assert failures({"a": Match.absent()}, {}) == []
    assert failures({"a": Match.absent()}, {"a": None}) == ["at /a: expected absent, got None"]


def test_not_inverts_a_pattern() -> None:
    assert failures(Match.not_("0.0.0.0/0"), "10.0.0.0/8") == []
    assert failures(Match.not_("0.0.0.0/0"), "0.0.0.0/0") == [
        "at /: expected not '0.0.0.0/0', got '0.0.0.0/0'"
    ]


def test_not_matches_a_missing_key_and_not_absent_requires_one() -> None:
    assert failures({"a": Match.not_(1)}, {}) == []
    assert failures({"a": Match.not_(Match.absent())}, {}) == [
        "at /a: expected not absent(), got nothing"
    ]


# -- string_like_regexp, ref -------------------------------------------------------------


def test_string_like_regexp_searches_anywhere_in_the_string() -> None:
    assert failures(Match.string_like_regexp("ami-"), "id: ami-123") == []
    assert failures(Match.string_like_regexp("^ami-"), "id: ami-123") == [
        "at /: expected a string matching '^ami-', got 'id: ami-123'"
    ]


def test_string_like_regexp_rejects_a_value_that_is_not_a_string() -> None:
    assert failures(Match.string_like_regexp("1"), 1) == [
        "at /: expected a string matching '1', got 1"
    ]


def test_ref_matches_a_reference_to_the_id_by_default() -> None:
    assert failures(Match.ref("Net/Vpc"), {"ref": "Net/Vpc.id"}) == []
    assert failures(Match.ref("Net/Vpc"), {"ref": "Net/Vpc.arn"}) == [
        "at /: expected ref('Net/Vpc.id'), got {'ref': 'Net/Vpc.arn'}"
    ]


def test_ref_takes_a_resource_object_and_an_attribute() -> None:
    assert failures(Match.ref(FakeResource(), "arn"), {"ref": "Net/Vpc.arn"}) == []


def test_ref_takes_a_reference_object() -> None:
    assert failures(Match.ref(FakeReference()), {"ref": "Net/Vpc.arn"}) == []


def test_ref_checks_the_stack_only_when_given() -> None:
    across = {"ref": "Net/Vpc.id", "stack": "network"}
    assert failures(Match.ref("Net/Vpc"), across) == []
    assert failures(Match.ref("Net/Vpc", stack="network"), across) == []
    assert failures(Match.ref("Net/Vpc", stack="other"), across) == [
        "at /: expected ref('Net/Vpc.id', stack='other'), "
        "got {'ref': 'Net/Vpc.id', 'stack': 'network'}"
    ]


def test_ref_rejects_extra_keys() -> None:
    assert not Match.ref("Db", "arn").test({"ref": "Db.arn", "x": 1}).ok


def test_ref_rejects_a_target_without_a_logical_id() -> None:
    with pytest.raises(TypeError, match=r"expected a resource path like 'Net/Vpc'"):
        Match.ref(42)


# -- results -----------------------------------------------------------------------------


def test_matchers_read_like_the_calls_that_built_them() -> None:
    pattern = Match.object_like(
        {"a": Match.array_with([Match.not_(Match.absent())]), "b": [Match.exact(1)]}
    )
    assert repr(pattern) == "object_like({'a': array_with([not_(absent())]), 'b': [1]})"


def test_a_missing_value_given_directly_reports_a_missing_key() -> None:
    assert [str(f) for f in Match.exact(3).test(MISSING, "/x").failures] == [
        "at /x: missing key, expected 3"
    ]


def test_match_failure_renders_the_root_path_as_a_slash() -> None:
    assert str(MatchFailure("", "boom")) == "at /: boom"
