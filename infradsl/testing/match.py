"""Matchers: patterns that parts of a synthesized document are tested against.

A pattern is a `Matcher` or a plain value. Plain values are read as matchers: a dict is
`Match.object_like`, a list must have exactly those elements, and anything else must be
equal (``True`` is not ``1``). Inside `Match.object_equals` and `Match.exact`, nested dicts
are compared exactly instead.

Testing a value never raises; it returns a `MatchResult` holding every difference found,
each with the JSON path (RFC 6901) where it was found, so results of nested matchers
compose into one report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from infradsl.testing._matcher import (
    MISSING,
    Matcher,
    MatchFailure,
    MatchResult,
    child_path,
    shorten,
    show,
)
from infradsl.testing._names import path_of

__all__ = ["MISSING", "Match", "MatchFailure", "MatchResult", "Matcher", "as_matcher"]


def as_matcher(pattern: Any, *, partial: bool = True) -> Matcher:
    """Read a pattern as a matcher: matchers stay, dicts and lists become matchers.

    Args:
        pattern: a `Matcher`, a dict, a list or tuple, or a scalar.
        partial: whether plain dicts may have extra keys (``object_like``) or not.

    Example:
        >>> as_matcher({"cidr_block": "10.0.0.0/16"})
        object_like({'cidr_block': '10.0.0.0/16'})
    """
    if isinstance(pattern, Matcher):
        return pattern
    if isinstance(pattern, Mapping):
        return _ObjectMatch(pattern, partial=partial)
    if isinstance(pattern, (list, tuple)):
        return _ArrayMatch(pattern, subsequence=False, partial=partial, name=None)
    return _Equals(pattern)


class Match:
    """Factories for the matchers that patterns are built from.

    Example:
        >>> pattern = {"ingress": Match.array_with([{"from_port": 443}])}
        >>> rule = {"protocol": "tcp", "from_port": 443, "to_port": 443}
        >>> Match.object_like(pattern).test({"ingress": [rule]}).ok
        True
    """

    @staticmethod
    def object_like(pattern: Mapping[str, Any]) -> Matcher:
        """An object with at least these keys; nested plain dicts are also ``object_like``.

        Example:
            >>> Match.object_like({"a": 1}).test({"a": 1, "b": 2}).ok
            True
        """
        return _ObjectMatch(pattern, partial=True)

    @staticmethod
    def object_equals(pattern: Mapping[str, Any]) -> Matcher:
        """An object with exactly these keys; nested plain dicts are compared exactly too.

        Example:
            >>> str(Match.object_equals({"a": 1}).test({"a": 1, "b": 2}))
            'at /b: unexpected key, got 2'
        """
        return _ObjectMatch(pattern, partial=False)

    @staticmethod
    def array_with(items: Sequence[Any]) -> Matcher:
        """An array in which the patterns match some elements, in this order.

        Other elements may come before, between and after them.

        Example:
            >>> Match.array_with([1, 3]).test([0, 1, 2, 3]).ok
            True
        """
        return _ArrayMatch(items, subsequence=True, partial=True, name="array_with")

    @staticmethod
    def array_equals(items: Sequence[Any]) -> Matcher:
        """An array of exactly as many elements, each matching the pattern at its index.

        Example:
            >>> str(Match.array_equals([1, 2]).test([1, 5]))
            'at /1: expected 2, got 5'
        """
        return _ArrayMatch(items, subsequence=False, partial=True, name="array_equals")

    @staticmethod
    def exact(value: Any) -> Matcher:
        """Deep equality with ``value``: nested dicts may not have extra keys.

        Example:
            >>> Match.exact({"a": {"b": 1}}).test({"a": {"b": 1, "c": 2}}).ok
            False
        """
        if isinstance(value, Matcher):
            raise TypeError(f"Match.exact() takes a plain value, not a matcher (got {value!r})")
        return as_matcher(value, partial=False)

    @staticmethod
    def any_value() -> Matcher:
        """Any value that is present and not ``None``.

        Example:
            >>> Match.object_like({"arn": Match.any_value()}).test({}).ok
            False
        """
        return _AnyValue()

    @staticmethod
    def absent() -> Matcher:
        """The key is not there at all.

        Example:
            >>> Match.object_like({"public_ip": Match.absent()}).test({}).ok
            True
        """
        return _Absent()

    @staticmethod
    def not_(pattern: Any) -> Matcher:
        """Anything that does not match ``pattern`` (a missing key does not match it).

        Example:
            >>> Match.not_("0.0.0.0/0").test("10.0.0.0/8").ok
            True
        """
        return _Not(as_matcher(pattern))

    @staticmethod
    def string_like_regexp(pattern: str) -> Matcher:
        """A string in which the regular expression is found (Python ``re.search``).

        Example:
            >>> Match.string_like_regexp(r"^ami-[0-9a-f]+$").test("ami-0abc").ok
            True
        """
        return _Regexp(pattern)

    @staticmethod
    def ref(target: object, attribute: str | None = None, *, stack: str | None = None) -> Matcher:
        """A reference ``{"ref": "<path>.<attribute>"}`` to a resource attribute.

        Args:
            target: the resource path (``"Net/Vpc"``), a resource (its ``logical_id`` is
                used), or a reference such as ``vpc.arn`` (its target and attribute).
            attribute: the attribute; defaults to the reference's, else ``"id"``.
            stack: for a reference across stacks, the other stack's name; when ``None`` the
                ``"stack"`` key is not checked.

        Example:
            >>> Match.ref("Net/Vpc").test({"ref": "Net/Vpc.id"}).ok
            True
        """
        ref_attribute = getattr(target, "attribute", None)
        if not isinstance(target, str) and isinstance(ref_attribute, str):
            target = getattr(target, "target", target)
            attribute = attribute or ref_attribute
        return _Ref(f"{path_of(target)}.{attribute or 'id'}", stack)


def _same(expected: Any, actual: Any) -> bool:
    # bool is an int in Python but not in JSON: True must not match 1, nor False match 0.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    return bool(expected == actual)


class _Equals(Matcher):
    def __init__(self, value: Any) -> None:
        self._value = value

    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return self._missing(path)
        if _same(self._value, actual):
            return MatchResult()
        return MatchResult().fail(path, f"expected {show(self._value)}, got {show(actual)}")

    def __repr__(self) -> str:
        return repr(self._value)


class _ObjectMatch(Matcher):
    def __init__(self, pattern: Mapping[str, Any], *, partial: bool) -> None:
        if not isinstance(pattern, Mapping):
            kind = "object_like" if partial else "object_equals"
            raise TypeError(f"Match.{kind}() takes a dict (got {pattern!r})")
        self._partial = partial
        self._matchers = {key: as_matcher(value, partial=partial) for key, value in pattern.items()}

    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return self._missing(path)
        if not isinstance(actual, Mapping):
            return MatchResult().fail(path, f"expected an object, got {show(actual)}")
        result = MatchResult()
        for key, matcher in self._matchers.items():
            result.merge(matcher.test(actual.get(key, MISSING), child_path(path, key)))
        if not self._partial:
            for key in sorted(set(actual) - set(self._matchers)):
                result.fail(child_path(path, key), f"unexpected key, got {show(actual[key])}")
        return result

    def __repr__(self) -> str:
        body = ", ".join(f"{key!r}: {matcher!r}" for key, matcher in self._matchers.items())
        kind = "object_like" if self._partial else "object_equals"
        return f"{kind}({{{body}}})"


class _ArrayMatch(Matcher):
    def __init__(
        self, items: Sequence[Any], *, subsequence: bool, partial: bool, name: str | None
    ) -> None:
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
            raise TypeError(f"Match.{name or 'array_equals'}() takes a list (got {items!r})")
        self._subsequence = subsequence
        self._name = name
        self._matchers = [as_matcher(item, partial=partial) for item in items]

    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return self._missing(path)
        if not isinstance(actual, (list, tuple)):
            return MatchResult().fail(path, f"expected an array, got {show(actual)}")
        if self._subsequence:
            return self._test_subsequence(actual, path)
        result = MatchResult()
        if len(actual) != len(self._matchers):
            result.fail(path, f"expected {len(self._matchers)} elements, got {len(actual)}")
        for index, (matcher, value) in enumerate(zip(self._matchers, actual, strict=False)):
            result.merge(matcher.test(value, child_path(path, index)))
        return result

    def _test_subsequence(self, actual: Sequence[Any], path: str) -> MatchResult:
        # Matching each pattern to the earliest element it can take is optimal: it leaves
        # the longest possible tail for the patterns after it.
        result = MatchResult()
        start = 0
        for item, matcher in enumerate(self._matchers):
            closest: MatchResult | None = None
            closest_index = -1
            for index in range(start, len(actual)):
                attempt = matcher.test(actual[index], child_path(path, index))
                if attempt.ok:
                    result.merge(attempt)
                    start = index + 1
                    break
                if closest is None or len(attempt.failures) < len(closest.failures):
                    closest, closest_index = attempt, index
            else:
                after = f" after index {start - 1}" if start else ""
                wanted = f"item {item} ({shorten(repr(matcher))})"
                if closest is None and not actual:
                    return result.fail(path, f"expected an array with {wanted}, got []")
                if closest is None:
                    return result.fail(path, f"no element{after} matches {wanted}")
                message = f"no element{after} matches {wanted}; closest is element {closest_index}"
                result.fail(path, message)
                result.failures.extend(closest.failures)
                return result
        return result

    def __repr__(self) -> str:
        body = ", ".join(repr(matcher) for matcher in self._matchers)
        return f"{self._name}([{body}])" if self._name else f"[{body}]"


class _AnyValue(Matcher):
    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return self._missing(path)
        if actual is None:
            return MatchResult().fail(path, "expected any value, got None")
        return MatchResult()

    def __repr__(self) -> str:
        return "any_value()"


class _Absent(Matcher):
    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return MatchResult()
        return MatchResult().fail(path, f"expected absent, got {show(actual)}")

    def __repr__(self) -> str:
        return "absent()"


class _Not(Matcher):
    def __init__(self, inner: Matcher) -> None:
        self._inner = inner

    def test(self, actual: Any, path: str = "") -> MatchResult:
        # Captures inside not_() are never kept: the inner result is dropped either way.
        if self._inner.test(actual, path).ok:
            message = f"expected not {shorten(repr(self._inner))}, got {show(actual)}"
            return MatchResult().fail(path, message)
        return MatchResult()

    def __repr__(self) -> str:
        return f"not_({self._inner!r})"


class _Regexp(Matcher):
    def __init__(self, pattern: str) -> None:
        self._regexp = re.compile(pattern)

    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return self._missing(path)
        if isinstance(actual, str) and self._regexp.search(actual):
            return MatchResult()
        message = f"expected a string matching {self._regexp.pattern!r}, got {show(actual)}"
        return MatchResult().fail(path, message)

    def __repr__(self) -> str:
        return f"string_like_regexp({self._regexp.pattern!r})"


class _Ref(Matcher):
    def __init__(self, ref: str, stack: str | None) -> None:
        self._ref = ref
        self._stack = stack

    def test(self, actual: Any, path: str = "") -> MatchResult:
        if actual is MISSING:
            return self._missing(path)
        if (
            isinstance(actual, Mapping)
            and set(actual) <= {"ref", "stack"}
            and actual.get("ref") == self._ref
            and (self._stack is None or actual.get("stack") == self._stack)
        ):
            return MatchResult()
        return MatchResult().fail(path, f"expected {self!r}, got {show(actual)}")

    def __repr__(self) -> str:
        stack = f", stack={self._stack!r}" if self._stack is not None else ""
        return f"ref({self._ref!r}{stack})"
