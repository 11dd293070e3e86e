"""The built-in rules that ``infradsl check`` applies to every synthesized stack.

Each rule reads plain document data only (DESIGN section 2): a reference is
``{"ref": "Path.attr"}`` and is never a literal value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from infradsl.check._secret import plaintext_secrets
from infradsl.check.finding import Severity
from infradsl.check.rule import Rule

__all__ = ["RULES"]

_WORLD = ("0.0.0.0/0", "::/0")
_ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
_ALL_PROTOCOLS = ("all", "-1")
_SECURITY_GROUP = "aws.ec2.SecurityGroup"
_SECURITY_GROUP_RULE = "aws.ec2.SecurityGroupRule"
_ADMIN_POLICY = ":policy/AdministratorAccess"


def _properties(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    props = entry.get("properties")
    return props if isinstance(props, Mapping) else {}


def _world_ingress(entry: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield ``(where, rule)`` for each ingress rule of the entry open to any address."""
    props = _properties(entry)
    rules: list[tuple[str, Any]] = []
    if entry.get("type") == _SECURITY_GROUP and isinstance(props.get("ingress"), list):
        rules = [(f"ingress[{i}]", rule) for i, rule in enumerate(props["ingress"])]
    elif entry.get("type") == _SECURITY_GROUP_RULE and props.get("direction", "ingress") == (
        "ingress"
    ):
        rules = [("rule", props.get("rule"))]
    for where, rule in rules:
        if isinstance(rule, Mapping) and rule.get("source") in _WORLD:
            yield where, rule


def _port_range(rule: Mapping[str, Any], protocols: tuple[str, ...]) -> tuple[int, int] | None:
    """The ports a rule opens for one of ``protocols`` (every port for "all"), else None."""
    protocol = str(rule.get("protocol", "")).lower()
    if protocol in _ALL_PROTOCOLS:
        return 0, 65535
    low, high = rule.get("from_port"), rule.get("to_port")
    if protocol not in protocols or not isinstance(low, int) or not isinstance(high, int):
        return None
    return low, high


def _describe(rule: Mapping[str, Any], ports: tuple[int, int]) -> str:
    protocol = str(rule.get("protocol", "")).lower()
    if protocol in _ALL_PROTOCOLS:
        return "all traffic"
    low, high = ports
    return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def _check_admin_ports(entry: Mapping[str, Any]) -> Iterator[str]:
    for where, rule in _world_ingress(entry):
        ports = _port_range(rule, ("tcp",))
        if ports is None:
            continue
        covered = [p for p in _ADMIN_PORTS if ports[0] <= p <= ports[1]]
        if not covered:
            continue
        text = f"{where} opens {_describe(rule, ports)} to {rule['source']}"
        if ports != (covered[0], covered[0]):
            text += ", which includes " + " and ".join(f"{_ADMIN_PORTS[p]} ({p})" for p in covered)
        yield text


def _check_all_ports(entry: Mapping[str, Any]) -> Iterator[str]:
    for where, rule in _world_ingress(entry):
        ports = _port_range(rule, ("tcp", "udp"))
        if ports is not None and ports[0] <= 0 and ports[1] >= 65535:
            yield f"{where} opens {_describe(rule, ports)} to {rule['source']}"


def _check_imdsv2(entry: Mapping[str, Any]) -> Iterator[str]:
    if _properties(entry).get("require_imdsv2") is False:
        yield "require_imdsv2 is false: the metadata service also answers IMDSv1 requests"


def _check_encryption(entry: Mapping[str, Any]) -> Iterator[str]:
    props = _properties(entry)
    if entry.get("type") == "aws.ec2.Instance" and props.get("root_volume_encrypted") is False:
        yield "root_volume_encrypted is false"
    if entry.get("type") == "aws.ec2.Volume" and props.get("encrypted") is False:
        yield "encrypted is false"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _check_admin_policy(entry: Mapping[str, Any]) -> Iterator[str]:
    props = _properties(entry)
    if entry.get("type") == "aws.iam.Role":
        for index, arn in enumerate(_strings(props.get("managed_policies"))):
            if arn.endswith(_ADMIN_POLICY):
                yield f"managed_policies[{index}] attaches AdministratorAccess"
        return
    statements = props.get("statements")
    for index, statement in enumerate(statements if isinstance(statements, list) else []):
        if not isinstance(statement, Mapping) or statement.get("effect", "Allow") != "Allow":
            continue
        if "*" not in _strings(statement.get("resources")):
            continue
        for action in _strings(statement.get("actions")):
            if action in ("*", "*:*"):
                yield f"statements[{index}] allows action {action!r} on resource '*'"


def _check_public_bucket(entry: Mapping[str, Any]) -> Iterator[str]:
    if _properties(entry).get("block_public_access") is False:
        yield "block_public_access is false"


def _check_plaintext_secrets(entry: Mapping[str, Any]) -> Iterator[str]:
    yield from plaintext_secrets(dict(_properties(entry)), "")


_BUILT_IN = (
    Rule(
        id="SG001",
        title="SSH or RDP open to the world",
        severity=Severity.HIGH,
        description="An ingress rule admits any address (0.0.0.0/0 or ::/0) on port 22 or "
        "3389: remote login is exposed to the whole internet and to brute-force attacks.",
        fix="Restrict the rule's source to a known CIDR or a bastion's security group, or "
        "use SSM Session Manager instead of SSH.",
        types=(_SECURITY_GROUP, _SECURITY_GROUP_RULE),
        check=_check_admin_ports,
    ),
    Rule(
        id="SG002",
        title="All ports open to the world",
        severity=Severity.HIGH,
        description="An ingress rule admits any address on every port (protocol 'all', or "
        "tcp/udp 0-65535): every service on the instance is reachable from the internet.",
        fix="Open only the ports the service needs, e.g. ec2.Rule.tcp(443, source=...).",
        types=(_SECURITY_GROUP, _SECURITY_GROUP_RULE),
        check=_check_all_ports,
    ),
    Rule(
        id="EC2001",
        title="IMDSv2 not required",
        severity=Severity.MEDIUM,
        description="The instance metadata service accepts IMDSv1 requests, which a "
        "server-side request forgery can use to steal the instance role's credentials.",
        fix="Leave require_imdsv2 at its default (True).",
        types=("aws.ec2.Instance",),
        check=_check_imdsv2,
    ),
    Rule(
        id="EC2002",
        title="Unencrypted EBS volume",
        severity=Severity.MEDIUM,
        description="A volume is stored unencrypted at rest, and so are its snapshots.",
        fix="Leave root_volume_encrypted (Instance) or encrypted (Volume) at its default (True).",
        types=("aws.ec2.Instance", "aws.ec2.Volume"),
        check=_check_encryption,
    ),
    Rule(
        id="IAM001",
        title="Administrator access",
        severity=Severity.HIGH,
        description="A policy allows every action on every resource (or a role has the "
        "AdministratorAccess managed policy): whoever holds it controls the account.",
        fix="List the actions and resources the role needs, e.g. "
        "iam.Statement(actions=['s3:GetObject'], resources=[bucket.arn]).",
        types=("aws.iam.Policy", "aws.iam.Role"),
        check=_check_admin_policy,
    ),
    Rule(
        id="SEC001",
        title="Secret in plain text",
        severity=Severity.CRITICAL,
        description="A property holds a credential as a literal (a password or token "
        "assignment, an AWS access key id, a private key): it ends up in git, in the "
        "synthesized output, in state and in the cloud console.",
        fix="Store it in a secrets.Secret and read it at runtime through the instance role "
        "(user_data=f'fetch-secret {secret.arn}'), or pass a reference.",
        check=_check_plaintext_secrets,
    ),
    Rule(
        id="S3001",
        title="Bucket public access not blocked",
        severity=Severity.MEDIUM,
        description="The bucket's public access block is off, so a bucket policy or object "
        "ACL can make its contents public.",
        fix="Leave block_public_access at its default (True).",
        types=("aws.s3.Bucket",),
        check=_check_public_bucket,
    ),
)

RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in _BUILT_IN})
"""The built-in rules by id, in a stable order."""
