"""References: a resource attribute that is only known at deploy time.

Reading ``vpc.id`` or ``web.public_ip`` gives a `Reference`. Passing one (or the resource
itself) into another resource creates a dependency edge. Inside an f-string a reference
becomes a token such as ``${infradsl:7}`` that synthesis turns back into a ``join``.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any, overload

from infradsl.core._source import user_location

if TYPE_CHECKING:
    from infradsl.core.resource import Resource

__all__ = ["Reference", "attribute", "known_text", "split_tokens"]

TOKEN_RE = re.compile(r"\$\{infradsl:(\d+)\}")
_counter = itertools.count(1)
# Token number -> reference. Tokens are process-wide so an f-string built in one stack and
# used in another still resolves; the numbers never reach synthesized output.
_tokens: dict[int, Reference] = {}


class Reference:
    """A typed reference to an attribute of a resource, resolved at deploy time.

    Attributes:
        target: the resource whose attribute this is.
        attribute: the attribute name (``id``, ``arn``, ``public_ip``...).
        location: the user's ``(file, line)`` where the attribute was read.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import ec2
        >>> vpc = ec2.Vpc(Stack(App(), "demo"), "Vpc", cidr_block="10.0.0.0/16")
        >>> vpc.id
        Reference(Vpc.id)
    """

    __slots__ = ("_token", "attribute", "location", "target")

    def __init__(self, target: Resource, attribute: str) -> None:
        self.target = target
        self.attribute = attribute
        self.location = user_location(1)
        self._token: str | None = None

    def token(self) -> str:
        """The string form used inside f-strings and concatenations."""
        if self._token is None:
            number = next(_counter)
            _tokens[number] = self
            self._token = f"${{infradsl:{number}}}"
        return self._token

    def __str__(self) -> str:
        return self.token()

    def __format__(self, spec: str) -> str:
        return format(self.token(), spec)

    def __add__(self, other: str) -> str:
        return self.token() + other

    def __radd__(self, other: str) -> str:
        return other + self.token()

    def __repr__(self) -> str:
        return f"Reference({self.target.logical_id}.{self.attribute})"


def split_tokens(text: str) -> list[str | Reference] | None:
    """Split a string at reference tokens; ``None`` when it holds none.

    Raises:
        KeyError: a token that no reference made (a hand-written ``${infradsl:N}``).
    """
    if "${infradsl:" not in text:
        return None
    parts: list[str | Reference] = []
    pos = 0
    for match in TOKEN_RE.finditer(text):
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        parts.append(_tokens[int(match.group(1))])
        pos = match.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def known_text(value: str | Reference) -> str:
    """The part of a string known at synth time: reference tokens removed.

    A `Reference` alone is ``""``. Limits on lengths count this part only: a reference's
    value (an id, an ARN) is unknown until deploy, so a value it makes too long is left
    for AWS to refuse rather than guessed at here.

    Example:
        >>> known_text("arn:aws:s3:::logs/*")
        'arn:aws:s3:::logs/*'
    """
    if not isinstance(value, str):
        return ""
    return TOKEN_RE.sub("", value)


class attribute:
    """Declare a deploy-time attribute of a resource type (``id``, ``arn``, ``public_ip``).

    Reading it on an instance returns a `Reference`; on the class, the declaration itself.
    """

    def __init__(self, doc: str = "") -> None:
        self.name = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> attribute: ...

    @overload
    def __get__(self, instance: Resource, owner: type) -> Reference: ...

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return Reference(instance, self.name)
