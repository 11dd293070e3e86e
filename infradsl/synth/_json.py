"""Canonical JSON text, fast: what ``json.dumps(sort_keys=True, indent=2)`` writes.

The standard library encodes indented JSON in pure Python, through a generator per
container; synthesizing 100,000 resources spent longer there than in building the
document. This encoder writes the same bytes by recursion, joining the items of each
container once, with the C string escaper. Anything it does not know (a non-str key, an
unknown type, a circular reference) is handed to `json.dumps`, which writes it or raises
its own error.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as escape  # C, when _json is built
from typing import Any

__all__ = ["dumps_indented"]

_INT_REPR = int.__repr__
_FLOAT_REPR = float.__repr__


class _Unsupported(Exception):
    """A value this encoder leaves to `json.dumps`."""


def dumps_indented(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False)``, byte for byte.

    Example:
        >>> print(dumps_indented({"b": [1, 2.5, None], "a": {"x": True}, "c": {}}))
        {
          "a": {
            "x": true
          },
          "b": [
            1,
            2.5,
            null
          ],
          "c": {}
        }
    """
    try:
        return _encode(value, "\n", {})
    except (_Unsupported, TypeError, RecursionError):
        # A non-str key (TypeError from the escaper or the sort), a type of its own, a
        # circular reference: json.dumps writes it the same way, or raises its error.
        return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False)


def _encode(value: Any, newline: str, keys: dict[str, str]) -> str:
    """The text of ``value``; ``newline`` is "\\n" followed by the current indent.

    Exact types only (``type(x) is str``): a subclass may encode differently, so it goes
    to `json.dumps`. Scalars inside a container are written inline, without a call;
    ``keys`` keeps each key's escaped ``"key": `` (the same few keys recur everywhere).
    """
    cls = type(value)
    if cls is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        parts: list[str] = []
        append = parts.append
        for key in sorted(value):
            item = value[key]
            head = keys.get(key)
            if head is None:
                head = keys[key] = escape(key) + ": "
            item_cls = type(item)
            if item_cls is str:
                append(head + escape(item))
            elif item_cls is dict or item_cls is list:
                append(head + _encode(item, inner, keys))
            elif item_cls is bool:
                append(head + ("true" if item else "false"))
            elif item_cls is int:
                append(head + _INT_REPR(item))
            elif item is None:
                append(head + "null")
            else:
                append(head + _encode(item, inner, keys))
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if cls is list or cls is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        items = [escape(v) if type(v) is str else _encode(v, inner, keys) for v in value]
        return "[" + inner + ("," + inner).join(items) + newline + "]"
    if cls is str:
        return escape(value)
    if value is None:
        return "null"
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return _INT_REPR(value)
    if cls is float and math.isfinite(value):
        return _FLOAT_REPR(value)
    raise _Unsupported  # NaN and the infinities (json.dumps's spelling), other types
