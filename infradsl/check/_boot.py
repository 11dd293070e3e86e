"""Secrets read at boot (rule SEC002) and secret values exposed (rule SEC003).

SEC002 follows an instance's ``user_data`` to the secrets it names, a reference to a
`Secret`'s ``arn`` or ``name`` (as `Secret.fetch_at_boot` writes) or a literal Secrets
Manager ARN, and the instance's role (``role``, or the role of its ``instance_profile``)
to the policies attached to it in any stack of the app. A secret the role cannot read
with ``secretsmanager:GetSecretValue`` would make the boot fail. A statement covers a
secret when one of its resources is a reference to the secret's ARN, or a pattern that
may match it: the parts of the ARN infradsl cannot know before deploy (the account, a
generated name, the random suffix) are matched only by a wildcard of the pattern, or by
the pattern's own account. The verdict is left open, and nothing is reported, for a role
infradsl does not manage (``Role.lookup``), one outside the checked stacks, or one with
a managed policy not in a small table of known ones.

SEC003 finds a secret's value outside the secret: the value of a ``Secret`` whose value
comes from the environment (``SecretValue.env``), as the checking process sees it, in any
property or output; and user data that prints a value read with ``get-secret-value``
(neither captured nor redirected nor piped), which ends up in the console output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from infradsl.check._iam import _REF, _matches, _text

__all__ = ["exposed_secret_values", "unreadable_boot_secrets"]

SECRET = "aws.secrets.Secret"
_POLICY = "aws.iam.Policy"
_PROFILE = "aws.iam.InstanceProfile"
_READ = "secretsmanager:GetSecretValue"
# Stands in for a part of an ARN not known before deploy: only a wildcard matches it.
_UNKNOWN = "\x01"
_ARN = re.compile(
    r"arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+", re.ASCII
)
# Managed policies known to allow reading every secret, and some known not to.
_GRANTING = frozenset({"AdministratorAccess", "PowerUserAccess", "SecretsManagerReadWrite"})
_NOT_GRANTING = frozenset(
    {
        "AmazonSSMManagedInstanceCore",
        "CloudWatchAgentServerPolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonS3ReadOnlyAccess",
        "AmazonEC2ReadOnlyAccess",
    }
)
# A value shorter than this is too likely to occur by chance to be reported.
_MIN_VALUE = 6

Key = tuple[str, str]
"""A resource of the app: ``(stack, path)``."""


@attrs.frozen
class _Secret:
    """A secret named in user data: a managed one (``key``) or a literal ARN."""

    label: str
    key: Key | None = None
    region: str | None = None
    name: str | None = None
    arn: str | None = None


class _App:
    """The resources, lookups and role policies of all documents, by ``(stack, path)``."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self.documents = documents
        self.resources: dict[Key, Mapping[str, Any]] = {}
        self.lookups: set[Key] = set()
        for stack in sorted(documents):
            resources = documents[stack].get("resources")
            for path, entry in (resources if isinstance(resources, Mapping) else {}).items():
                if isinstance(entry, Mapping):
                    self.resources[(stack, path)] = entry
            lookups = documents[stack].get("lookups")
            self.lookups.update((stack, path) for path in (lookups or {}))
        self.policies: dict[Key, list[tuple[Key, Mapping[str, Any]]]] = {}
        for key, entry in self.resources.items():
            if entry.get("type") == _POLICY:
                for role in _list(_props(entry).get("roles")):
                    target = _target(key[0], role)
                    if target is not None:
                        self.policies.setdefault(target, []).append((key, entry))

    def region(self, stack: str) -> str | None:
        region = self.documents[stack].get("region")
        return region if isinstance(region, str) else None


def unreadable_boot_secrets(
    documents: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, str, str]]:
    """Yield ``(stack, path, message)`` per secret user data reads that its role cannot."""
    app = _App(documents)
    for (stack, path), entry in sorted(app.resources.items()):
        props = _props(entry)
        if props.get("user_data") is None:
            continue
        fetched = _named_secrets(app, stack, props["user_data"])
        if not fetched:
            continue
        role = _role_of(app, stack, props)
        for secret in fetched:
            if role is None:
                yield (
                    stack,
                    path,
                    f"user_data reads secret {secret.label} at boot, but the instance has no "
                    "role: it would fail at boot",
                )
                continue
            if role is _OPEN:
                continue
            why = _why_unreadable(app, role, secret)
            if why is not None:
                yield (
                    stack,
                    path,
                    f"user_data reads secret {secret.label} at boot, but role "
                    f"{_label(stack, role)} cannot read it ({why}): it would fail at boot",
                )


def exposed_secret_values(
    documents: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, str, str]]:
    """Yield ``(stack, path, message)`` per secret value found outside its secret."""
    app = _App(documents)
    values: list[tuple[str, Key, str]] = []  # (value, secret, variable)
    for key, entry in sorted(app.resources.items()):
        source = _props(entry).get("value") if entry.get("type") == SECRET else None
        variable = source.get("env_var") if isinstance(source, Mapping) else None
        value = os.environ.get(variable) if isinstance(variable, str) else None
        if variable and value and len(value) >= _MIN_VALUE:
            values.append((value, key, variable))

    def holds(stack: str, value: Any, prefix: str) -> Iterator[str]:
        for where, text in _strings(value, ""):
            for secret_value, secret, variable in values:
                if secret_value in text:
                    yield (
                        f"{prefix}{where} holds the value of secret {_label(stack, secret)} "
                        f"(${variable})"
                    )

    for (stack, path), entry in sorted(app.resources.items()):
        props = _props(entry)
        for message in holds(stack, props, ""):
            yield stack, path, message
        for line in _printing_lines(_text(props.get("user_data"))):
            yield (
                stack,
                path,
                f"user_data line {line} prints a secret's value (get-secret-value with its "
                "output neither captured, redirected nor piped): it ends up in the console "
                "output",
            )
    for stack in sorted(documents):
        outputs = documents[stack].get("outputs")
        for name, output in sorted((outputs if isinstance(outputs, Mapping) else {}).items()):
            for message in holds(stack, {"value": output}, "the output's "):
                yield stack, name, message


# what user data names ------------------------------------------------------------------


def _named_secrets(app: _App, stack: str, user_data: Any) -> list[_Secret]:
    found: dict[str, _Secret] = {}
    for part in _parts(user_data):
        if isinstance(part, str):
            for match in _ARN.finditer(part):
                arn = match.group()
                found.setdefault(arn, _Secret(label=repr(arn), arn=arn))
            continue
        key = _target(stack, part)
        entry = app.resources.get(key) if key is not None else None
        if key is None or entry is None or entry.get("type") != SECRET:
            continue
        name = _props(entry).get("secret_name")
        found.setdefault(
            f"{key}",
            _Secret(
                label=_label(stack, key),
                key=key,
                region=app.region(key[0]),
                name=name if isinstance(name, str) else None,
            ),
        )
    return list(found.values())


# the role and what it allows ------------------------------------------------------------

_OPEN: Key = ("", "")
"""A role whose permissions cannot be known from the documents."""


def _role_of(app: _App, stack: str, props: Mapping[str, Any]) -> Key | None:
    """The instance's role, ``None`` when it has none, `_OPEN` when it cannot be told."""
    role = props.get("role")
    if role is None:
        profile = _target(stack, props.get("instance_profile"))
        if profile is None:
            return None if props.get("instance_profile") is None else _OPEN
        entry = app.resources.get(profile)
        if entry is None or entry.get("type") != _PROFILE:
            return _OPEN
        stack, role = profile[0], _props(entry).get("role")
    key = _target(stack, role)
    if key is None or key in app.lookups or key not in app.resources:
        return _OPEN
    return key


def _why_unreadable(app: _App, role: Key, secret: _Secret) -> str | None:
    """Why ``role`` cannot read ``secret``, or ``None`` when it can or may."""
    allowed = False
    for (stack, path), policy in app.policies.get(role, []):
        statements = _list(_props(policy).get("statements"))
        for index, statement in enumerate(statements):
            if not isinstance(statement, Mapping) or not _reads(statement, stack, secret):
                continue
            if str(statement.get("effect", "Allow")).lower() == "deny":
                return f"statements[{index}] of policy {_label(role[0], (stack, path))} denies it"
            allowed = True
    if allowed:
        return None
    arns = _list(_props(app.resources[role]).get("managed_policies"))
    managed = [_policy_name(arn) for arn in arns]
    if any(name in _GRANTING for name in managed) or any(
        name not in _NOT_GRANTING for name in managed
    ):
        return None
    return f"no statement allows {_READ} on it"


def _reads(statement: Mapping[str, Any], stack: str, secret: _Secret) -> bool:
    actions = [a for a in _list(statement.get("actions")) if isinstance(a, str)]
    if not any(_matches(action, _READ, ignore_case=True) for action in actions):
        return False
    for resource in _list(statement.get("resources")):
        if isinstance(resource, Mapping) and "ref" in resource:
            if (
                secret.key is not None
                and _ref_attribute(resource) == "arn"
                and _target(stack, resource) == secret.key
            ):
                return True
            continue
        pattern = _text(resource)
        if pattern is not None and any(
            _matches(pattern, arn, ignore_case=False) for arn in _candidates(secret, pattern)
        ):
            return True
    return False


def _candidates(secret: _Secret, pattern: str) -> list[str]:
    """The ARNs ``secret`` may have, unknown parts left to the pattern's wildcards."""
    if secret.arn is not None:
        # A partial ARN (no random suffix) names the secret whose full ARN adds one.
        return [secret.arn, f"{secret.arn}-{_UNKNOWN * 6}"]
    fields = pattern.split(":", 5)
    partition, account = "aws", _UNKNOWN
    if len(fields) == 6:
        if re.fullmatch(r"aws[\w-]*", fields[1]):
            partition = fields[1]
        if re.fullmatch(r"\d{12}", fields[4]):
            account = fields[4]
    name = f"{secret.name}-{_UNKNOWN * 6}" if secret.name else _UNKNOWN
    region = secret.region or _UNKNOWN
    return [f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}"]


def _policy_name(arn: Any) -> str:
    return arn.rsplit("/", 1)[-1] if isinstance(arn, str) else _REF


# user data that prints a value ------------------------------------------------------------

_FETCH = re.compile(r"\bget-secret-value\b")
# Standard output sent elsewhere: a pipe, or a redirect of fd 1 (not "2>" or "2>&1").
_STDOUT_AWAY = re.compile(r"(?<!\|)\|(?!\|)|(?:^|[^0-9&>])>|(?<![0-9])1>|&>")


def _printing_lines(text: str | None) -> Iterator[int]:
    """Line numbers of ``get-secret-value`` calls whose output goes to stdout."""
    if text is None:
        return
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        number, logical = index + 1, lines[index]
        while logical.endswith("\\") and index + 1 < len(lines):  # a continued line
            index += 1
            logical = logical[:-1] + " " + lines[index]
        index += 1
        match = _FETCH.search(logical)
        if match is None or logical.lstrip().startswith("#"):
            continue
        before, after = logical[: match.start()], logical[match.end() :]
        captured = "$(" in before or "`" in before
        if not captured and not _STDOUT_AWAY.search(after):
            yield number


# plain-data helpers ---------------------------------------------------------------------


def _props(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    props = entry.get("properties")
    return props if isinstance(props, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _ref_attribute(ref: Mapping[str, Any]) -> str:
    return str(ref.get("ref", "")).rpartition(".")[2]


def _target(stack: str, ref: Any) -> Key | None:
    """``(stack, path)`` of the resource a reference points at."""
    if not isinstance(ref, Mapping) or not isinstance(ref.get("ref"), str):
        return None
    path, dot, _ = ref["ref"].rpartition(".")
    if not dot:
        return None
    other = ref.get("stack")
    return (other if isinstance(other, str) else stack, path)


def _label(stack: str | None, key: Key) -> str:
    """A resource as messages name it: its path, with its stack when it is another one."""
    return repr(key[1]) if key[0] == stack else repr(f"{key[0]}/{key[1]}")


def _parts(value: Any) -> list[Any]:
    if isinstance(value, Mapping) and isinstance(value.get("join"), list):
        return list(value["join"])
    return [value]


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """``(property path, text)`` for every string in a property value."""
    text = _text(value)
    if text is not None:
        yield where, text
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")
    elif isinstance(value, Mapping) and "ref" not in value:
        for key, item in value.items():
            yield from _strings(item, f"{where}[{key!r}]" if where else str(key))
