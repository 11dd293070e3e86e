"""Capture: a matcher that remembers the values it matched, to inspect them afterwards."""

from __future__ import annotations

import copy
from typing import Any

from infradsl.testing.match import MISSING, Matcher, MatchResult, as_matcher

__all__ = ["Capture"]


class Capture(Matcher):
    """Put in a pattern where a value is expected; records that value when the pattern matches.

    A value is recorded only when the whole pattern matched a resource or output, so a
    failed assertion, or a candidate that did not match, leaves nothing behind. When a
    pattern matches several resources, one value is recorded per resource, in the
    document's order; read the first, then call `next` to move on.

    Args:
        pattern: what the captured value must also match; by default any value that is
            present and not ``None``.

    Example:
        >>> from infradsl.testing import Template
        >>> t = Template.from_dict({"stack": "demo", "resources": {"Web": {
        ...     "type": "aws.ec2.Instance", "properties": {"subnet": {"ref": "Net/Public.id"}}}}})
        >>> subnet = Capture()
        >>> t.has_resource_properties("aws.ec2.Instance", {"subnet": subnet})
        >>> subnet.as_object()
        {'ref': 'Net/Public.id'}
    """

    def __init__(self, pattern: Any = None) -> None:
        self._pattern = None if pattern is None else as_matcher(pattern)
        self._values: list[Any] = []
        self._index = 0

    def test(self, actual: Any, path: str = "") -> MatchResult:
        """Test ``actual`` against the pattern; its value is recorded on commit."""
        if actual is MISSING:
            return self._missing(path)
        if self._pattern is not None:
            result = self._pattern.test(actual, path)
        elif actual is None:
            result = MatchResult().fail(path, "expected any value to capture, got None")
        else:
            result = MatchResult()
        if result.ok:
            value = copy.deepcopy(actual)
            result.on_success(lambda: self._values.append(value))
        return result

    def next(self) -> bool:
        """Move to the next captured value; ``False`` (and no move) when there is none.

        Example:
            >>> ports = Capture()
            >>> doc = {"resources": {
            ...     "A": {"type": "aws.ec2.SecurityGroup", "properties": {"port": 22}},
            ...     "B": {"type": "aws.ec2.SecurityGroup", "properties": {"port": 443}}}}
            >>> from infradsl.testing import Template
            >>> _ = Template.from_dict(doc).find_resources(
            ...     "aws.ec2.SecurityGroup", {"properties": {"port": ports}})
            >>> ports.as_number(), ports.next(), ports.as_number(), ports.next()
            (22, True, 443, False)
        """
        if self._index + 1 < len(self._values):
            self._index += 1
            return True
        return False

    def as_object(self) -> dict[str, Any]:
        """The captured value, which must be an object (a dict).

        Example:
            >>> c = Capture(); c.test({"ref": "Net/Vpc.id"}).commit(); c.as_object()
            {'ref': 'Net/Vpc.id'}
        """
        value = self._current()
        if not isinstance(value, dict):
            raise TypeError(self._wrong_type(value, "an object"))
        return value

    def as_array(self) -> list[Any]:
        """The captured value, which must be an array (a list).

        Example:
            >>> c = Capture(); c.test([1, 2]).commit(); c.as_array()
            [1, 2]
        """
        value = self._current()
        if not isinstance(value, list):
            raise TypeError(self._wrong_type(value, "an array"))
        return value

    def as_string(self) -> str:
        """The captured value, which must be a string.

        Example:
            >>> c = Capture(); c.test("10.0.0.0/16").commit(); c.as_string()
            '10.0.0.0/16'
        """
        value = self._current()
        if not isinstance(value, str):
            raise TypeError(self._wrong_type(value, "a string"))
        return value

    def as_number(self) -> int | float:
        """The captured value, which must be a number (``True`` and ``False`` are not).

        Example:
            >>> c = Capture(); c.test(443).commit(); c.as_number()
            443
        """
        value = self._current()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(self._wrong_type(value, "a number"))
        return value

    def as_boolean(self) -> bool:
        """The captured value, which must be ``True`` or ``False``.

        Example:
            >>> c = Capture(); c.test(True).commit(); c.as_boolean()
            True
        """
        value = self._current()
        if not isinstance(value, bool):
            raise TypeError(self._wrong_type(value, "a boolean"))
        return value

    def _current(self) -> Any:
        if not self._values:
            raise AssertionError(
                f"{self!r} has captured nothing: no pattern it is in has matched yet"
            )
        return self._values[self._index]

    def _wrong_type(self, value: Any, description: str) -> str:
        return f"captured value is not {description}: {value!r} ({type(value).__name__})"

    def __repr__(self) -> str:
        return "Capture()" if self._pattern is None else f"Capture({self._pattern!r})"
