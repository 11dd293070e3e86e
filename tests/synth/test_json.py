"""The canonical JSON encoder writes exactly what json.dumps writes."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infradsl.synth._json import dumps_indented

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_any_json_value_is_written_as_json_dumps_writes_it(value: Any) -> None:
    assert dumps_indented(value) == reference(value)


class Color(str, enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


@pytest.mark.parametrize(
    "value",
    [
        {1: "a", 2: "b"},
        {"t": (1, "x", ())},
        {"e": Color.RED, "s": Size.BIG},
        [float("nan"), float("inf"), float("-inf"), -0.0, 1e300],
        {"nested": {"empty": {}, "list": [], "unicode": 'é\u2028\x00"\\'}},
    ],
)
def test_unusual_values_are_written_as_json_dumps_writes_them(value: Any) -> None:
    assert dumps_indented(value) == reference(value)


def test_what_json_dumps_refuses_is_refused_with_its_error() -> None:
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indented({"a": circular})
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indented({"a": object()})
    with pytest.raises(TypeError):
        dumps_indented({"a": 1, 2: "b"})
