"""Finding secrets written as plain text in synthesized property values (rule SEC001).

Besides assignments to credential-like names, a few commands are known to take a
password inline: ``user:password`` fed to ``chpasswd`` (through a pipe from echo or
printf, a here-string, a here-document or cloud-init's ``chpasswd:`` block),
``mysql -p<password>`` and its sibling clients, and ``aws configure set`` of a secret key
or session token. A value that starts with ``$``, a backquote or another template marker,
or that holds a reference (a ``{"ref": ...}`` part of a join), is not a literal.

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
    r"(passw(or)?d|passphrase|(^|[_.-])pass|[_.-]pwd|secret|token|api[_-]?key|access[_-]?key"
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

# Commands that take a password on their command line or standard input.
_CHPASSWD_PIPE = re.compile(
    r"(?:^|[;&(]|\|\|)[ \t]*(?P<input>(?:echo|printf)\b[^\n;&|()]*)\|[ \t]*"
    r"(?:sudo[ \t]+(?:-\S+[ \t]+)*)?chpasswd\b",
    re.MULTILINE,
)
_CHPASSWD_HERE_STRING = re.compile(r"\bchpasswd\b[^\n<;|&]*<<<[ \t]*(?P<input>[^\n;|&]*)")
_HERE_DOC = r"<<-?[ \t]*(?P<q>['\"]?)(?P<tag>\w+)(?P=q)"
_HERE_DOC_BODY = r"[^\n]*\n(?P<input>.*?)^[ \t]*(?P=tag)[ \t]*$"
_CHPASSWD_HERE_DOC = re.compile(  # chpasswd <<EOF
    r"\bchpasswd\b[^\n<;|&]*" + _HERE_DOC + _HERE_DOC_BODY, re.MULTILINE | re.DOTALL
)
_CHPASSWD_PIPED_HERE_DOC = re.compile(  # cat <<EOF | chpasswd
    _HERE_DOC + r"[^\n|]*\|[ \t]*(?:sudo[ \t]+(?:-\S+[ \t]+)*)?chpasswd\b" + _HERE_DOC_BODY,
    re.MULTILINE | re.DOTALL,
)
# cloud-init's chpasswd module: user:password lines indented below "chpasswd:".
_CHPASSWD_CLOUD_INIT = re.compile(
    r"^(?P<indent>[ \t]*)chpasswd:[ \t]*\n(?P<input>(?:(?P=indent)[ \t]+[^\n]*(?:\n|$))*)",
    re.MULTILINE,
)
_CHPASSWD = (
    _CHPASSWD_PIPE,
    _CHPASSWD_HERE_STRING,
    _CHPASSWD_HERE_DOC,
    _CHPASSWD_PIPED_HERE_DOC,
    _CHPASSWD_CLOUD_INIT,
)
_USER_PASSWORD = re.compile(
    r"""(?<![\w$.{:/-])(?P<user>[A-Za-z_][\w.-]*):(?P<password>[^\s'"|;&]+)"""
)
_MYSQL = re.compile(
    r"(?<![\w.-])(?P<command>mysql(?:dump|admin|import|show|check|slap)?"
    r"|mariadb(?:-?(?:dump|admin|import|show|check|slap))?)(?=[ \t])(?P<args>[^\n;|&]*)"
)
_MYSQL_PASSWORD = re.compile(r"(?<!\S)-p(?P<password>\S+)")
_AWS_CONFIGURE_SET = re.compile(
    r"\baws\b[^\n;|&]*?[ \t]configure[ \t]+(?:--?[\w-]+[ \t]+\S+[ \t]+)*set[ \t]+"
    r"(?:--?[\w-]+[ \t]+\S+[ \t]+)*(?P<key>[\w.-]+)[ \t]+(?P<value>\S+)"
)

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
    found.extend(_chpasswd_passwords(text))
    for match in _MYSQL.finditer(text):
        for option in _MYSQL_PASSWORD.finditer(match.group("args")):
            if _is_literal(_unquote(option.group("password"))):
                what = f"passes a literal password to {match.group('command')} with -p"
                found.append((match.start("args") + option.start(), what))
    for match in _AWS_CONFIGURE_SET.finditer(text):
        key = match.group("key")
        if _is_credential(key.rpartition(".")[2]) and _is_literal(_unquote(match.group("value"))):
            what = f"sets {key} to a literal value with aws configure set"
            found.append((match.start("key"), what))
    multiline = "\n" in text.strip("\n")
    seen: set[str] = set()
    for offset, what in sorted(found):
        line = f" line {text.count(chr(10), 0, offset) + 1}" if multiline else ""
        message = f"{where}{line} {what}"
        if message not in seen:
            seen.add(message)
            yield message


def _chpasswd_passwords(text: str) -> Iterator[tuple[int, str]]:
    """``(offset, what)`` for each user:password pair with a literal password fed to chpasswd."""
    for pattern in _CHPASSWD:
        for match in pattern.finditer(text):
            for pair in _USER_PASSWORD.finditer(match.group("input")):
                user, password = pair.group("user"), pair.group("password")
                if user.lower() in ("arn", "http", "https") or not _is_literal(password):
                    continue  # an ARN or a URL to fetch the list from, or a variable
                offset = match.start("input") + pair.start()
                yield offset, f"gives chpasswd a literal password for {user}"


def _unquote(value: str) -> str:
    """``value`` without one pair of enclosing quotes."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


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
