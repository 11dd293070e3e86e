"""Finding secrets written as plain text in synthesized property values (rule SEC001).

Messages name the property, the line and the variable, never the value itself: check
output ends up in CI logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["plaintext_secrets"]

# Stands in for a {"ref": ...} part of a join: a value that starts with or contains it
# is resolved at deploy time, so it is not a literal. NUL never occurs in user text.
_REF = "\x00"

_CREDENTIAL_NAME = re.compile(
    r"(passw(or)?d|passphrase|(^|[_.-])pass|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|auth[_-]?key|credentials?)$",
    re.IGNORECASE,
)

# KEY=value, KEY: value, "key": "value", key = 'value', --key=value. The key is not
# preceded by a word character, "$" or "${" (that would be a use, not an assignment).
_ASSIGNMENT = re.compile(
    r"""(?<![\w.$])(?<!\$\{)(?P<kq>["']?)(?P<key>[A-Za-z_][\w.-]*)(?P=kq)"""
    r"""(?P<sep>[ \t]*(?::=|(?<![=!<>:])=(?!=)|:(?![:/]))[ \t]*)"""
    r"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"';]+)(?P<rest>[^\n]*))"""
)

_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:(?P<password>[^\s/@]+)@")

_NOT_LITERAL_START = ("$", "`", "%", "{", "[", "(", "<", "|", ">", "!", "/", "arn:", _REF)
_HARMLESS = {
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "none",
    "nil",
    "required",
    "optional",
    "redacted",
}
_MASK = re.compile(r"^(\*+|x+|\.+|-+)$", re.IGNORECASE)


def plaintext_secrets(value: Any, where: str) -> Iterator[str]:
    """Yield a message for each plain-text secret in ``value``, a synthesized property.

    Args:
        value: plain data from a document: strings, joins, references, lists, dicts.
        where: the property path to name in messages, e.g. ``"user_data"``.
    """
    if isinstance(value, str):
        yield from _scan(value, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from plaintext_secrets(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        if isinstance(value.get("ref"), str) and set(value) <= {"ref", "stack"}:
            return  # a reference is resolved at deploy time
        parts = value.get("join")
        if len(value) == 1 and isinstance(parts, list):
            text = "".join(p if isinstance(p, str) else _REF for p in parts)
            yield from _scan(text, where)
            return
        for key, item in value.items():
            name = str(key)
            inner = f"{where}[{name!r}]" if where else name
            if isinstance(item, str) and _is_credential(name) and _is_literal(item):
                yield f"{inner} holds a literal value"
            yield from plaintext_secrets(item, inner)


def _scan(text: str, where: str) -> Iterator[str]:
    found: list[tuple[int, str]] = []
    for match in _ASSIGNMENT.finditer(text):
        key = match.group("key")
        if _is_credential(key) and _literal_value(match):
            found.append((match.start("key"), f"assigns a literal value to {key}"))
    for match in _URL_PASSWORD.finditer(text):
        if _is_literal(match.group("password")):
            found.append((match.start(), "contains a URL with a literal password"))
    for match in _ACCESS_KEY_ID.finditer(text):
        found.append((match.start(), f"contains an AWS access key id ({match.group()[:4]}...)"))
    for match in _PRIVATE_KEY.finditer(text):
        found.append((match.start(), "contains a private key block"))
    multiline = "\n" in text.strip("\n")
    seen: set[str] = set()
    for offset, what in sorted(found):
        line = f" line {text.count(chr(10), 0, offset) + 1}" if multiline else ""
        message = f"{where}{line} {what}"
        if message not in seen:
            seen.add(message)
            yield message


def _is_credential(name: str) -> bool:
    return bool(_CREDENTIAL_NAME.search(name))


def _literal_value(match: re.Match[str]) -> bool:
    quoted = match.group("dq")
    if quoted is None:
        quoted = match.group("sq")
    if quoted is not None:
        return _is_literal(quoted)
    bare = match.group("bare")
    sep = match.group("sep")
    rest = match.group("rest").strip()
    # A bare word after "key: " or "key = " is only a value when it ends the line (YAML,
    # ini); otherwise it is prose such as "the API token: rotated monthly".
    if (":" in sep or sep != sep.strip()) and rest and not rest.startswith(("#", ",", "}")):
        return False
    if "(" in bare or "[" in bare:
        return False  # an expression: password = get_password(), os.environ["X"]
    return _is_literal(bare)


def _is_literal(value: str) -> bool:
    value = value.strip()
    if len(value) < 3 or _REF in value:
        return False
    if value.startswith(_NOT_LITERAL_START):  # variables, templates, paths, ARNs
        return False
    return value.lower() not in _HARMLESS and not _MASK.match(value)
