"""Paths where two synthesized values differ, and create-only patterns matched on them."""

from __future__ import annotations

from infradsl.plan.paths import UNKNOWN, changed_paths, diff_paths, escape, mask_references

REF = {"ref": "Net/Vpc.id"}


def test_equal_values_have_no_paths() -> None:
    assert diff_paths("p", {"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) == ()


def test_nested_maps_and_lists_are_entered_by_key_and_position() -> None:
    old = {"ingress": [{"from_port": 80}, {"from_port": 22}, {"from_port": 443}]}
    new = {"ingress": [{"from_port": 80}, {"from_port": 22}, {"from_port": 8443}]}
    assert diff_paths("rules", old, new) == ("rules/ingress/2/from_port",)


def test_an_added_or_removed_item_is_one_path() -> None:
    assert diff_paths("p", [1], [1, {"a": 1}]) == ("p/1",)
    assert diff_paths("p", {"a": 1, "b": {"c": 1}}, {"a": 1}) == ("p/b",)


def test_absent_and_none_are_the_same_inside_a_map() -> None:
    assert diff_paths("p", {"a": 1, "b": None}, {"a": 1}) == ("p",)
    assert diff_paths("p", {"a": 1, "b": None}, {"a": 2}) == ("p/a",)


def test_a_reference_or_join_is_one_value() -> None:
    other = {"ref": "Net/Other.id"}
    assert diff_paths("vpc", REF, other) == ("vpc",)
    assert diff_paths("n", {"join": ["a-", REF]}, {"join": ["b-", REF]}) == ("n",)
    assert diff_paths("vpc", REF, "vpc-123") == ("vpc",)


def test_a_value_of_another_kind_is_one_path() -> None:
    assert diff_paths("p", {"a": [1]}, {"a": {"x": 1}}) == ("p/a",)


def test_keys_are_escaped() -> None:
    assert escape("a/b~c") == "a~1b~0c"
    assert diff_paths("tags", {"k/1": "a"}, {"k/1": "b"}) == ("tags/k~11",)


def test_a_pattern_names_the_concrete_paths_that_differ() -> None:
    old = {"rules": [{"protocol": "tcp", "port": 1}, {"protocol": "udp", "port": 2}]}
    new = {"rules": [{"protocol": "tcp", "port": 9}, {"protocol": "tcp", "port": 2}]}
    assert changed_paths(("p", "rules", "*", "protocol"), old, new) == ["p/rules/1/protocol"]
    assert changed_paths(("p", "rules", "*", "port"), old, new) == ["p/rules/0/port"]
    assert changed_paths(("p", "rules", "0", "port"), old, new) == ["p/rules/0/port"]
    assert changed_paths(("p",), old, new) == ["p"]


def test_a_pattern_under_an_added_item_differs_only_when_the_item_has_that_field() -> None:
    assert changed_paths(("p", "*", "kind"), [], [{"kind": "x"}]) == ["p/0/kind"]
    assert changed_paths(("p", "*", "kind"), [], [{"size": 1}]) == []


def test_a_pattern_over_a_map_matches_every_key() -> None:
    old = {"a": {"kind": 1}, "b": {"kind": 2}}
    new = {"a": {"kind": 1}, "b": {"kind": 3}, "c": {"kind": 4}}
    assert changed_paths(("p", "*", "kind"), old, new) == ["p/b/kind", "p/c/kind"]


def test_everything_inside_an_unknown_value_differs() -> None:
    assert changed_paths(("p", "*", "kind"), [{"kind": 1}], UNKNOWN) == ["p/0/kind"]
    assert changed_paths(("p", "*", "kind"), REF, UNKNOWN) == ["p"]
    assert changed_paths(("p", "a"), {"a": 1}, {"a": UNKNOWN}) == ["p/a"]


def test_masking_hides_only_the_references_that_change() -> None:
    value = {"a": REF, "b": [{"ref": "Keep.id"}], "c": {"join": ["x-", REF]}, "d": "plain"}
    masked = mask_references(value, lambda stack, path: path == "Net/Vpc")
    assert masked == {"a": UNKNOWN, "b": [{"ref": "Keep.id"}], "c": UNKNOWN, "d": "plain"}
    assert diff_paths("v", value, masked) == ("v/a", "v/c")
