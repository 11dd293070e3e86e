"""Which ports of a security group are open to every address (rules SG001 and SG002).

A group's ingress is the union of its inline ``ingress`` rules and of the standalone
``SecurityGroupRule`` resources that point at it. A port is open to the world when the
sources of the rules admitting it together cover the whole IPv4 or IPv6 address space:
``0.0.0.0/0`` in one rule, ``0::/0`` written another way, or ``0.0.0.0/1`` plus
``128.0.0.0/1`` in two. Sources are parsed with `ipaddress`, so every spelling it
accepts counts; a source that is a group, a reference or a prefix list is no address.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["GROUP", "GROUP_RULE", "admin_ports_open", "all_ports_open"]

GROUP = "aws.ec2.SecurityGroup"
GROUP_RULE = "aws.ec2.SecurityGroupRule"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
_LAST_PORT = 65535
# Port 0 is reserved and never reachable, so 1-65535 is every port.
_EVERY_PORT = (1, _LAST_PORT)
_PROTOCOLS = {"all": "all", "-1": "all", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}
_WORLD: dict[int, Network] = {
    4: ipaddress.IPv4Network("0.0.0.0/0"),
    6: ipaddress.IPv6Network("::/0"),
}


@attrs.frozen(kw_only=True)
class _Grant:
    """One ingress rule that admits an address range on a protocol and port range.

    Attributes:
        path: the resource it is written in (the group, or a standalone rule).
        label: where inside that resource: ``"ingress[0]"`` or ``"rule"``.
        standalone: written as a ``SecurityGroupRule`` resource.
        protocol: ``"tcp"``, ``"udp"`` or ``"all"``.
        ports: the first and last port admitted.
        source: the source as written.
        network: the source, normalised.
    """

    path: str
    label: str
    standalone: bool
    protocol: str
    ports: tuple[int, int]
    source: str
    network: Network

    def admits(self, protocol: str, port: int, version: int) -> bool:
        """Whether it admits addresses of IP ``version`` on ``protocol`` ``port``."""
        return self.carries(protocol, version) and self.ports[0] <= port <= self.ports[1]

    def carries(self, protocol: str, version: int) -> bool:
        """Whether it admits addresses of IP ``version`` on ``protocol`` (on some port)."""
        return self.protocol in ("all", protocol) and self.network.version == version

    def describe(self) -> str:
        """What it opens: ``"tcp 22"``, ``"udp 0-65535"`` or ``"all traffic"``."""
        if self.protocol == "all":
            return "all traffic"
        low, high = self.ports
        return f"{self.protocol} {low}" if low == high else f"{self.protocol} {low}-{high}"

    def source_text(self) -> str:
        """The source as written, with its meaning when written unusually."""
        if self.network.prefixlen == 0 and str(self.network) != self.source:
            return f"{self.source} (every IPv{self.network.version} address)"
        return self.source

    def name(self) -> str:
        """How a finding reported on the group names this rule."""
        return f"SecurityGroupRule {self.path!r}" if self.standalone else self.label


@attrs.frozen(kw_only=True)
class _Ingress:
    """The ingress rules of one security group, and where to report on it."""

    path: str
    grants: tuple[_Grant, ...]


def admin_ports_open(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(path, message)`` where SSH or RDP is open to every address (SG001)."""
    for group in _groups(document):
        singles: dict[_Grant, list[int]] = {}
        together: dict[tuple[tuple[_Grant, ...], int], list[int]] = {}
        for port in _ADMIN_PORTS:
            for version in _WORLD:
                admitting = [g for g in group.grants if g.admits("tcp", port, version)]
                whole = [g for g in admitting if g.network.prefixlen == 0]
                for grant in whole:
                    singles.setdefault(grant, []).append(port)
                if not whole and _covers_world(admitting, version):
                    needed = _minimal(admitting, functools.partial(_covers_world, version=version))
                    together.setdefault((needed, version), []).append(port)
        for grant, ports in singles.items():
            text = f"{grant.label} opens {grant.describe()} to {grant.source_text()}"
            if grant.ports != (ports[0], ports[0]):
                text += ", which includes " + _ports_text(ports)
            yield grant.path, text
        for (needed, version), ports in together.items():
            yield (
                group.path,
                (
                    f"{_names(needed)} together open {_ports_text(ports)} to every "
                    f"IPv{version} address"
                ),
            )


def all_ports_open(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(path, message)`` where every port is open to every address (SG002)."""
    for group in _groups(document):
        seen: set[tuple[str, str]] = set()
        for protocol in ("tcp", "udp"):
            for version in _WORLD:
                admitting = [g for g in group.grants if g.carries(protocol, version)]
                whole = [
                    g
                    for g in admitting
                    if g.network.prefixlen == 0 and _within(_EVERY_PORT, [g.ports])
                ]
                found: list[tuple[str, str]] = [
                    (g.path, f"{g.label} opens {g.describe()} to {g.source_text()}") for g in whole
                ]
                if not whole and _every_port_open(admitting, protocol, version):
                    enough = functools.partial(_every_port_open, protocol=protocol, version=version)
                    needed = _minimal(admitting, enough)
                    opened = (
                        "all traffic"
                        if all(g.protocol == "all" for g in needed)
                        else f"every {protocol} port"
                    )
                    found.append(
                        (
                            group.path,
                            f"{_names(needed)} together open {opened} to every "
                            f"IPv{version} address",
                        )
                    )
                for item in found:
                    if item not in seen:
                        seen.add(item)
                        yield item


def _groups(document: Mapping[str, Any]) -> list[_Ingress]:
    """The ingress of every group of the document, including groups it only points at."""
    resources = document.get("resources")
    if not isinstance(resources, Mapping):
        return []
    inline: dict[str, list[_Grant]] = {}
    standalone: dict[str, list[_Grant]] = {}
    for path in sorted(resources):
        entry = resources[path]
        if not isinstance(entry, Mapping):
            continue
        props = entry.get("properties")
        props = props if isinstance(props, Mapping) else {}
        if entry.get("type") == GROUP:
            rules = props.get("ingress")
            grants = inline.setdefault(path, [])
            for index, rule in enumerate(rules if isinstance(rules, list) else []):
                grants.extend(_grant(rule, path, f"ingress[{index}]", standalone=False))
        elif entry.get("type") == GROUP_RULE and props.get("direction", "ingress") == "ingress":
            key = _group_key(props.get("group"), document, path)
            grant = _grant(props.get("rule"), path, "rule", standalone=True)
            standalone.setdefault(key, []).extend(grant)
    groups = []
    for key in sorted(set(inline) | set(standalone)):
        grants = inline.get(key, []) + standalone.get(key, [])
        if grants:
            # A group outside this document is reported on its first standalone rule.
            path = key if key in inline else grants[0].path
            groups.append(_Ingress(path=path, grants=tuple(grants)))
    return groups


def _group_key(group: Any, document: Mapping[str, Any], rule_path: str) -> str:
    """The path of the group a standalone rule belongs to, or a key for a group elsewhere."""
    if isinstance(group, Mapping) and isinstance(group.get("ref"), str):
        same_stack = group.get("stack", document.get("stack")) == document.get("stack")
        target: str = group["ref"].rpartition(".")[0]
        if same_stack and target:
            return target
        return "\x00" + json.dumps(dict(group), sort_keys=True)
    if isinstance(group, str):
        return "\x00" + group
    return "\x00" + rule_path


def _grant(rule: Any, path: str, label: str, *, standalone: bool) -> list[_Grant]:
    """The rule as a grant, or nothing if it admits no address range on TCP or UDP."""
    if not isinstance(rule, Mapping):
        return []
    protocol = _PROTOCOLS.get(str(rule.get("protocol", "")).strip().lower())
    source = rule.get("source")
    network = _network(source)
    if protocol is None or network is None or not isinstance(source, str):
        return []
    if protocol == "all":
        ports = (0, _LAST_PORT)
    else:
        low, high = _port(rule.get("from_port")), _port(rule.get("to_port"))
        if low is None or high is None:
            return []
        ports = (max(low, 0), min(high, _LAST_PORT))
        if ports[0] > ports[1]:
            return []
    return [
        _Grant(
            path=path,
            label=label,
            standalone=standalone,
            protocol=protocol,
            ports=ports,
            source=source,
            network=network,
        )
    ]


def _port(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _network(source: Any) -> Network | None:
    """The source as a network; host bits are ignored, as a firewall would."""
    if not isinstance(source, str) or "/" not in source:
        return None
    try:
        return ipaddress.ip_network(source.strip(), strict=False)
    except ValueError:
        return None


def _covers_world(grants: Sequence[_Grant], version: int) -> bool:
    """Whether the sources of ``grants`` together hold every address of IP ``version``."""
    collapsed: list[Network]
    if version == 4:
        v4 = [g.network for g in grants if isinstance(g.network, ipaddress.IPv4Network)]
        collapsed = list(ipaddress.collapse_addresses(v4))
    else:
        v6 = [g.network for g in grants if isinstance(g.network, ipaddress.IPv6Network)]
        collapsed = list(ipaddress.collapse_addresses(v6))
    return collapsed == [_WORLD[version]]


def _open_ranges(grants: Sequence[_Grant], protocol: str, version: int) -> list[tuple[int, int]]:
    """The port ranges on which ``grants`` together admit every address of ``version``."""
    relevant = [g for g in grants if g.carries(protocol, version)]
    # Between two consecutive bounds the same rules admit every port: one segment.
    bounds = sorted({g.ports[0] for g in relevant} | {g.ports[1] + 1 for g in relevant})
    ranges: list[tuple[int, int]] = []
    for low, after in itertools.pairwise(bounds):
        admitting = [g for g in relevant if g.ports[0] <= low and after - 1 <= g.ports[1]]
        if _covers_world(admitting, version):
            ranges.append((low, after - 1))
    return ranges


def _every_port_open(grants: Sequence[_Grant], protocol: str, version: int) -> bool:
    return _within(_EVERY_PORT, _open_ranges(grants, protocol, version))


def _within(span: tuple[int, int], ranges: Sequence[tuple[int, int]]) -> bool:
    """Whether ``ranges`` together cover every port of ``span``."""
    reached = span[0] - 1
    for low, high in sorted(ranges):
        if low > reached + 1:
            break
        reached = max(reached, high)
    return reached >= span[1]


def _minimal(
    grants: Sequence[_Grant], enough: Callable[[list[_Grant]], bool]
) -> tuple[_Grant, ...]:
    """``grants`` without every rule that ``enough`` still holds without, in order."""
    kept = list(grants)
    for grant in list(kept):
        rest = [g for g in kept if g is not grant]
        if enough(rest):
            kept = rest
    return tuple(kept)


def _names(grants: Sequence[_Grant]) -> str:
    parts = [f"{g.name()} ({g.describe()} from {g.source})" for g in grants]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _ports_text(ports: Sequence[int]) -> str:
    return " and ".join(f"{_ADMIN_PORTS[p]} ({p})" for p in sorted(set(ports)))
