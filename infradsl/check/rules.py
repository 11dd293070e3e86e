"""The built-in rules that ``infradsl check`` applies to every synthesized stack.

Each rule reads plain document data only (DESIGN section 2): a reference is
``{"ref": "Path.attr"}`` and is never a literal value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from infradsl.check._boot import exposed_secret_values, unreadable_boot_secrets
from infradsl.check._iam import admin_grants, dangerous_managed_policies
from infradsl.check._network import GROUP, GROUP_RULE, admin_ports_open, all_ports_open
from infradsl.check._secret import plaintext_secrets
from infradsl.check.finding import Severity
from infradsl.check.rule import Rule

__all__ = ["RULES"]


def _properties(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    props = entry.get("properties")
    return props if isinstance(props, Mapping) else {}


def _check_imdsv2(entry: Mapping[str, Any]) -> Iterator[str]:
    if _properties(entry).get("require_imdsv2") is False:
        yield "require_imdsv2 is false: the metadata service also answers IMDSv1 requests"


def _check_encryption(entry: Mapping[str, Any]) -> Iterator[str]:
    props = _properties(entry)
    if entry.get("type") == "aws.ec2.Instance" and props.get("root_volume_encrypted") is False:
        yield "root_volume_encrypted is false"
    if entry.get("type") == "aws.ec2.Volume" and props.get("encrypted") is False:
        yield "encrypted is false"


def _check_admin_policy(entry: Mapping[str, Any]) -> Iterator[str]:
    props = _properties(entry)
    if entry.get("type") == "aws.iam.Role":
        yield from dangerous_managed_policies(props.get("managed_policies"))
    else:
        yield from admin_grants(props.get("statements"))


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
        description="A security group admits every address (0.0.0.0/0 or ::/0, however "
        "written, or ranges that add up to it) on port 22 or 3389, alone or in a port range: "
        "remote login is exposed to the whole internet and to brute-force attacks.",
        fix="Restrict the rule's source to a known CIDR or a bastion's security group, or "
        "use SSM Session Manager instead of SSH.",
        types=(GROUP, GROUP_RULE),
        check_stack=admin_ports_open,
    ),
    Rule(
        id="SG002",
        title="All ports open to the world",
        severity=Severity.HIGH,
        description="A security group admits every address on every port (protocol 'all', "
        "or tcp/udp 1-65535, in one rule or several): every service on the instance is "
        "reachable from the internet.",
        fix="Open only the ports the service needs, e.g. ec2.Rule.tcp(443, source=...).",
        types=(GROUP, GROUP_RULE),
        check_stack=all_ports_open,
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
        description="A policy allows every action on every resource, or an IAM action that "
        "lets its holder grant itself more (iam:*, iam:PassRole on every role), or a role "
        "has a managed policy such as AdministratorAccess, IAMFullAccess or PowerUserAccess: "
        "whoever holds it controls the account.",
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
        fix="Store it in a secrets.Secret and read it at boot through the instance role "
        "(secret.fetch_at_boot(to='/run/NAME') in the user data), or pass a reference.",
        check=_check_plaintext_secrets,
    ),
    Rule(
        id="SEC002",
        title="Secret unreadable at boot",
        severity=Severity.HIGH,
        description="An instance's user data reads a secret (a reference to a Secret's arn or "
        "name, as fetch_at_boot writes, or a Secrets Manager ARN) that its role is not "
        "allowed to read with secretsmanager:GetSecretValue, or the instance has no role: "
        "the boot script would fail on the server.",
        fix="Let the instance's role read the secret: secret.grant_read(role).",
        types=("aws.ec2.Instance",),
        check_app=unreadable_boot_secrets,
    ),
    Rule(
        id="SEC003",
        title="Secret value exposed",
        severity=Severity.CRITICAL,
        description="A secret's value appears outside the secret: the value of a Secret "
        "read from the environment (SecretValue.env) found in a property such as user data "
        "or tags, or in an output; or user data that prints a value it reads with "
        "get-secret-value, which lands in the instance's console output. Whoever can read "
        "the instance's attributes, tags, console, the state or the plan can read it.",
        fix="Pass the secret, not its value: read it on the instance with "
        "secret.fetch_at_boot(to='/run/NAME') or env='NAME', and never print it.",
        check_app=exposed_secret_values,
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
