"""The matcher protocol: a value tested against a pattern gives a result of failures.

Private: the public names are re-exported from `infradsl.testing.match`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from typing import Any, Final

import attrs

__all__ = ["MISSING", "MatchFailure", "MatchResult", "Matcher", "child_path", "shorten", "show"]

_MAX_SHOWN = 80


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""Passed to `Matcher.test` for a key that the tested object does not have."""


@attrs.frozen
class MatchFailure:
    """One difference between a pattern and a value.

    Attributes:
        path: where the difference is, as a JSON pointer (``/properties/ingress/0``).
        message: what was expected and what was got.

    Example:
        >>> str(MatchFailure("/properties/port", "expected 22, got 443"))
        'at /properties/port: expected 22, got 443'
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"at {self.path or '/'}: {self.message}"


class MatchResult:
    """The outcome of testing one value against a pattern.

    Attributes:
        failures: every difference found, in the order the pattern was walked.

    Captured values are held back until `commit` so that a `Capture` in a pattern that
    failed, or in a candidate that lost, keeps nothing.

    Example:
        >>> from infradsl.testing import Match
        >>> result = Match.object_like({"port": 22}).test({"port": 443})
        >>> result.ok, str(result)
        (False, 'at /port: expected 22, got 443')
    """

    __slots__ = ("_commits", "failures")

    def __init__(self) -> None:
        self.failures: list[MatchFailure] = []
        self._commits: list[Callable[[], None]] = []

    @property
    def ok(self) -> bool:
        """Whether the value matched: no failure was found."""
        return not self.failures

    def fail(self, path: str, message: str) -> MatchResult:
        """Record a difference at ``path``; returns ``self`` for chaining."""
        self.failures.append(MatchFailure(path, message))
        return self

    def on_success(self, action: Callable[[], None]) -> None:
        """Run ``action`` on `commit`, if the whole match succeeded."""
        self._commits.append(action)

    def merge(self, other: MatchResult) -> MatchResult:
        """Add the failures and pending captures of a nested result; returns ``self``."""
        self.failures.extend(other.failures)
        self._commits.extend(other._commits)
        return self

    def commit(self) -> None:
        """Record the captured values, once, if the match succeeded; otherwise drop them."""
        commits, self._commits = self._commits, []
        if self.ok:
            for action in commits:
                action()

    def __str__(self) -> str:
        return "\n".join(str(failure) for failure in self.failures)


class Matcher(abc.ABC):
    """A pattern that a value is tested against.

    Subclasses implement `test` and a ``__repr__`` that reads like the call that built
    them (``array_with([{'port': 22}])``); it is used in failure messages.

    Example:
        >>> from infradsl.testing import Match
        >>> Match.string_like_regexp("^ami-").test("ami-123").ok
        True
    """

    @abc.abstractmethod
    def test(self, actual: Any, path: str = "") -> MatchResult:
        """Test ``actual`` (or `MISSING` for an absent key) found at JSON pointer ``path``."""

    @abc.abstractmethod
    def __repr__(self) -> str: ...

    def _missing(self, path: str) -> MatchResult:
        return MatchResult().fail(path, f"missing key, expected {shorten(repr(self))}")


def shorten(text: str) -> str:
    """``text``, cut to a length that keeps a failure message on one line."""
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def show(value: Any) -> str:
    """How a value appears in a failure message; ``nothing`` for `MISSING`."""
    return "nothing" if value is MISSING else shorten(repr(value))


def child_path(path: str, key: str | int) -> str:
    """The JSON pointer of ``key`` under ``path``, escaped as RFC 6901 says."""
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
