"""CIDR ranges as ints accept exactly what ipaddress accepts (strict)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infradsl.aws._validators import parse_network, parse_range


def as_range(value: str) -> tuple[int, int, int] | None:
    network = parse_network(value)
    if network is None:
        return None
    return int(network.network_address), int(network.broadcast_address), network.prefixlen


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_a_block_in_the_usual_spelling_parses_as_ipaddress_parses_it(
    base: int, prefix: int
) -> None:
    for address in (base, base & ~((1 << (32 - prefix)) - 1)):
        value = f"{ipaddress.IPv4Address(address)}/{prefix}"
        assert parse_range(value) == as_range(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789./ ", max_size=20))
def test_any_text_parses_as_ipaddress_parses_it(value: str) -> None:
    assert parse_range(value) == as_range(value)


@pytest.mark.parametrize(
    "value",
    ["10.0.0.0/255.255.0.0", "010.0.0.0/8", "10.0.0.0/08", "256.0.0.0/8", "10.0.0.1/16", "x/8"],
)
def test_other_spellings_and_bad_blocks_follow_ipaddress(value: str) -> None:
    assert parse_range(value) == as_range(value)
