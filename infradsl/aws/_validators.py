"""Validators as values: each returns ``check(name, value)`` raising ``ValueError``.

Messages follow one formula: ``'<name>' must be <what> (got <value>)``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from infradsl.core._tags import tag_problems
from infradsl.core.reference import known_text
from infradsl.core.resource import Check, is_literal

__all__ = [
    "VOLUME_TYPES",
    "choice",
    "cidr",
    "int_range",
    "matches",
    "max_bytes",
    "max_length",
    "parse_ipv6_network",
    "parse_network",
    "parse_range",
    "port",
    "tags",
]


def parse_network(value: str) -> ipaddress.IPv4Network | None:
    """Parse an IPv4 CIDR strictly (host bits must be zero); ``None`` if invalid."""
    if not isinstance(value, str) or "/" not in value:
        return None
    return _parse_network(value)


# Networks are immutable, and the same blocks are parsed again and again: at construction,
# by each rule naming them, and by the overlap check of every subnet against its VPC.
@functools.lru_cache(maxsize=65536)
def _parse_network(value: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return None


def parse_range(value: str) -> tuple[int, int, int] | None:
    """Parse an IPv4 CIDR as `parse_network` does, into ``(first, last, prefix length)``,
    the addresses as ints; ``None`` if invalid.

    For the checks run on every subnet (at construction, and for overlaps at synth):
    ipaddress's objects cost more to make than the checks themselves.

    Example:
        >>> parse_range("10.0.1.0/24")
        (167772416, 167772671, 24)
        >>> parse_range("10.0.1.1/24") is None
        True
    """
    if not isinstance(value, str) or "/" not in value:
        return None
    return _parse_range(value)


# The usual spelling, 10.0.1.0/24: octets without leading zeros (ipaddress refuses them).
_OCTET = r"(0|[1-9][0-9]{0,2})"
_CIDR_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/(0|[1-9][0-9]?)")


@functools.lru_cache(maxsize=65536)
def _parse_range(value: str) -> tuple[int, int, int] | None:
    match = _CIDR_RE.fullmatch(value)
    if match is None:  # another spelling ipaddress accepts (10.0.0.0/255.255.0.0), or none
        network = _parse_network(value)
        if network is None:
            return None
        first, last = int(network.network_address), int(network.broadcast_address)
        return first, last, network.prefixlen
    a, b, c, d, prefix = map(int, match.groups())
    if a > 255 or b > 255 or c > 255 or d > 255 or prefix > 32:
        return None
    first = a << 24 | b << 16 | c << 8 | d
    size = 1 << (32 - prefix)
    if first & (size - 1):
        return None  # host bits set (strict, as parse_network)
    return first, first + size - 1, prefix


def parse_ipv6_network(value: str) -> ipaddress.IPv6Network | None:
    """Parse an IPv6 CIDR strictly; ``None`` if invalid."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.IPv6Network(value, strict=True)
    except ValueError:
        return None


def cidr(min_prefix: int = 0, max_prefix: int = 32) -> Check:
    """An IPv4 CIDR block whose prefix length is within ``[min_prefix, max_prefix]``."""

    def check(name: str, value: Any) -> None:
        if not is_literal(value):
            return
        parsed = parse_range(value)
        if parsed is None:
            hint = ""
            if isinstance(value, str) and "/" in value:
                try:
                    loose = ipaddress.IPv4Network(value, strict=False)
                    hint = f"; did you mean {str(loose)!r}?"
                except ValueError:
                    pass
            raise ValueError(f"{name!r} must be a CIDR like 10.0.0.0/16 (got {value!r}){hint}")
        if not min_prefix <= parsed[2] <= max_prefix:
            raise ValueError(
                f"{name!r} must be a CIDR between /{min_prefix} and /{max_prefix} (got {value!r})"
            )

    return check


def port(name: str, value: Any) -> None:
    """A TCP/UDP port number, 0..65535."""
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= 65535:
        raise ValueError(f"{name!r} must be a port in 0..65535 (got {value!r})")


def int_range(low: int, high: int) -> Check:
    """An integer within ``[low, high]``."""

    def check(name: str, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise ValueError(f"{name!r} must be in {low}..{high} (got {value!r})")

    return check


def choice(options: Iterable[str]) -> Check:
    """One of a fixed set of strings."""
    allowed = tuple(options)

    def check(name: str, value: Any) -> None:
        if is_literal(value) and value not in allowed:
            shown = ", ".join(repr(o) for o in allowed)
            raise ValueError(f"{name!r} must be one of {shown} (got {value!r})")

    return check


def matches(pattern: str, example: str) -> Check:
    """A string matching a regular expression; ``example`` shows a valid value."""
    regex = re.compile(pattern)

    def check(name: str, value: Any) -> None:
        if isinstance(value, str) and is_literal(value) and not regex.match(value):
            raise ValueError(f"{name!r} must look like {example} (got {value!r})")

    return check


def tags(name: str, value: Any) -> None:
    """Tags AWS accepts next to infradsl's system tags (see `infradsl.core._tags`).

    Reports the first problem; the count with the stack's tags merged in is checked at
    synth, when the stack's tags are final.
    """
    if isinstance(value, dict):
        found = tag_problems(name, value)
        if found:
            raise ValueError(found[0])


VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "st1", "sc1")


def max_length(limit: int) -> Check:
    """A string of at most ``limit`` characters.

    Only the known text counts: a reference inside an f-string has no length until
    deploy, so a value over the limit because of one is left for AWS to refuse.
    """

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            return
        length = len(known_text(value))
        if length > limit:
            at_least = "" if is_literal(value) else "at least "
            raise ValueError(
                f"{name!r} must be at most {limit} characters (got {at_least}{length})"
            )

    return check


def max_bytes(limit: int) -> Check:
    """A string of at most ``limit`` bytes in UTF-8 (AWS counts bytes where characters of
    several bytes matter, e.g. user data); the known text only, as for `max_length`."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            return
        try:
            size = len(known_text(value).encode("utf-8"))
        except UnicodeEncodeError as error:
            # Only lone surrogates (from a bad decode) cannot be encoded.
            bad = error.object[error.start]
            raise ValueError(
                f"{name!r} must be text that UTF-8 can encode (got the lone surrogate {bad!r})"
            ) from None
        if size > limit:
            at_least = "" if is_literal(value) else "at least "
            raise ValueError(
                f"{name!r} must be at most {limit} bytes in UTF-8 (got {at_least}{size} bytes)"
            )

    return check
