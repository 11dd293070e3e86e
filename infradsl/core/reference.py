"""References: a resource attribute that is only known at deploy time.

Reading ``vpc.id`` or ``web.public_ip`` gives a `Reference`. Passing one (or the resource
itself) into another resource creates a dependency edge. Inside an f-string a reference
becomes a token such as ``${InfraDsl:7}`` that synthesis turns back into a ``join``.

A reference has no value before deploy, so whatever would need one is refused at the
user's line with `~infradsl.errors.ReferenceUseError`: ``if ref:``, ``len(ref)``,
``ref[:3]``, ``ref.upper()``, ``ref == "x"``, ``f"{ref!r}"``, a format spec. A ``str``
operation on a string that already holds a token (``f"{ref}"[:-3]``,
``f"{ref}".upper()``) cannot be intercepted: it leaves a damaged token, which
`damaged_tokens` finds so that synthesis can report it.
"""

from __future__ import annotations

import functools
import itertools
import opcode
import os
import re
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, overload

from infradsl.core._source import _PACKAGE_DIR, format_location, user_location
from infradsl.errors import ReferenceAttributeError, ReferenceUseError

if TYPE_CHECKING:
    from infradsl.core.resource import Resource

__all__ = [
    "Reference",
    "attribute",
    "damaged_tokens",
    "holds_reference",
    "known_text",
    "split_tokens",
]

# The mixed case is deliberate: .upper(), .lower(), .title(), .swapcase() and .casefold()
# all change it, so a token that went through one of them is found by `damaged_tokens`.
TOKEN_RE = re.compile(r"\$\{InfraDsl:(\d+)\}")
# What a str operation leaves of a token, searched once the intact tokens are removed.
# Each alternative needs a piece no user text has by chance ("${infradsl", "infradsl:7}").
_DAMAGE_RE = re.compile(
    r"\$\{infradsl(?::(?P<cut>\d*)(?P<end>\})?)?"  # case changed, or the end cut off
    r"|infradsl:(?P<number>\d+)\}"  # "$" or "${" cut off
    r"|^(?:nfradsl|fradsl|radsl|adsl|dsl):(?P<rest>\d+)\}"  # more of the start cut off
    r"|\$\{i(?:n(?:f(?:r(?:a(?:d(?:s)?)?)?)?)?)?$",  # the end cut off inside the name
    re.IGNORECASE,
)
# Something every damaged piece contains: a cheap test before the search above.
_DAMAGE_HINT = re.compile(r"\$\{|dsl:\d", re.IGNORECASE)
_counter = itertools.count(1)
# Token number -> reference. Tokens are process-wide so an f-string built in one stack and
# used in another still resolves; the numbers never reach synthesized output.
_tokens: dict[int, Reference] = {}

_USE_WHOLE = "use it whole in an f-string or pass it as a property"
# Public str methods: calling one on a reference gets an explanation, not a bare
# AttributeError ("'Reference' object has no attribute 'upper'").
_STR_METHODS = frozenset(name for name in dir(str) if not name.startswith("_"))
# Opcodes during which a __repr__ call comes from string formatting: an f-string's !r/!a
# (FORMAT_VALUE up to 3.12, CONVERT_VALUE from 3.13) or "%r" % x (BINARY_OP from 3.11,
# BINARY_MODULO before).
_FORMAT_OPS = frozenset(
    opcode.opmap[name]
    for name in ("FORMAT_VALUE", "CONVERT_VALUE", "BINARY_OP", "BINARY_MODULO")
    if name in opcode.opmap
)


class Reference:
    """A typed reference to an attribute of a resource, resolved at deploy time.

    Put it whole into an f-string or pass it as a property; operations that need its
    value (``if``, ``len``, slicing, ``str`` methods, ``==`` with a literal, ``!r``)
    raise `~infradsl.errors.ReferenceUseError` at your line.

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
        >>> ref = vpc.id
        >>> f"vpc={ref}" == "vpc=" + ref
        True
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
            self._token = f"${{InfraDsl:{number}}}"
        return self._token

    def describe(self) -> str:
        """``'<construct path>.<attribute>'``, as messages name it."""
        return f"'{self.target.node.path}.{self.attribute}'"

    # what works: the token, whole -------------------------------------------------

    def __str__(self) -> str:
        return self.token()

    def __format__(self, spec: str) -> str:
        if spec:
            _refuse(
                self,
                f"the format spec {spec!r} cannot apply to it",
                "write {ref} without a spec, or pass it as a property",
            )
        return self.token()

    def __add__(self, other: object) -> str:
        if isinstance(other, (str, Reference)):
            return self.token() + str(other)
        _refuse(
            self,
            f"+ cannot join {_shown(other)} to it",
            "only a str can be joined to it, with + or in an f-string",
        )

    def __radd__(self, other: object) -> str:
        if isinstance(other, str):
            return other + self.token()
        _refuse(
            self,
            f"+ cannot join {_shown(other)} to it",
            "only a str can be joined to it, with + or in an f-string",
        )

    def __repr__(self) -> str:
        text = f"Reference({self.target.logical_id}.{self.attribute})"
        caller = sys._getframe(1)
        if (
            caller.f_code.co_name != "__repr__"  # a container's repr (attrs, dataclasses)
            and _is_user_code(caller)
            and caller.f_code.co_code[caller.f_lasti] in _FORMAT_OPS
        ):
            _refuse(
                self,
                f"!r and %r would write the text {text!r}, not its value",
                "write {ref} without !r, or pass it as a property",
            )
        return text

    # what needs the value: refused in the user's code --------------------------------

    def __bool__(self) -> bool:
        if _is_user_code(sys._getframe(1)):
            _refuse(self, "if, and, or, not and bool() cannot test it")
        return True

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (str, int, float)) and _is_user_code(sys._getframe(1)):
            _refuse(self, f"== and != cannot compare it with {other!r}")
        return self is other

    def __ne__(self, other: object) -> bool:
        if isinstance(other, (str, int, float)) and _is_user_code(sys._getframe(1)):
            _refuse(self, f"== and != cannot compare it with {other!r}")
        return self is not other

    __hash__ = object.__hash__

    def __len__(self) -> int:
        _refuse(self, "len() cannot measure it")

    def __getitem__(self, key: object) -> NoReturn:
        _refuse(self, "indexing and slicing cannot cut it")

    def __iter__(self) -> NoReturn:
        _refuse(self, "a for loop, list() or unpacking cannot iterate over it")

    def __contains__(self, item: object) -> bool:
        _refuse(self, "'in' cannot search it")

    def __int__(self) -> int:
        _refuse(self, "int() cannot convert it")

    def __float__(self) -> float:
        _refuse(self, "float() cannot convert it")

    def __getattr__(self, name: str) -> NoReturn:
        if name in _STR_METHODS:
            raise ReferenceAttributeError(
                *_message(self, f"the str method .{name}() needs its text")
            )
        raise AttributeError(f"'Reference' object has no attribute {name!r}")


def _shown(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _message(ref: Reference, what: str, instead: str = _USE_WHOLE) -> tuple[str, str]:
    location = format_location(user_location(1))
    return (
        f"{ref.describe()} is a reference whose value is only known at deploy time: {what}; "
        f"{instead}",
        location,
    )


def _refuse(ref: Reference, what: str, instead: str = _USE_WHOLE) -> NoReturn:
    raise ReferenceUseError(*_message(ref, what, instead))


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    dirs = sorted({os.path.join(paths[key], "") for key in keys if key in paths})
    return (_PACKAGE_DIR, *dirs)


def _is_user_code(frame: FrameType) -> bool:
    """True when ``frame`` runs the user's code, not infradsl, a library or generated code.

    Operations that only a library performs on a reference (an ``if`` in infradsl's own
    validation, attrs' generated ``__eq__`` of a `Route`, ``logging``'s ``%r``) keep their
    former result; only the user's own code is told that the value is not known yet.
    """
    filename = frame.f_code.co_filename
    return not filename.startswith(("<attrs generated", "<frozen", *_library_dirs()))


def split_tokens(text: str) -> list[str | Reference] | None:
    """Split a string at reference tokens; ``None`` when it holds none.

    Raises:
        KeyError: a token that no reference made (a hand-written ``${InfraDsl:N}``).
    """
    if "${InfraDsl:" not in text:
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


def damaged_tokens(text: str) -> list[tuple[str, Reference | None]]:
    """Pieces of reference tokens that a ``str`` operation cut or changed.

    Each piece comes with the reference it was made from when its number survived.
    Slicing away a whole token, or an operation that leaves it intact, cannot be seen.

    Example:
        >>> damaged_tokens("${INFRADSL:12345678}-a")
        [('${INFRADSL:12345678}', None)]
        >>> damaged_tokens("10.0.0.0/16")
        []
    """
    if _DAMAGE_HINT.search(text) is None:
        return []
    scrubbed = TOKEN_RE.sub("\0", text)
    found: list[tuple[str, Reference | None]] = []
    for match in _DAMAGE_RE.finditer(scrubbed):
        # Digits without their closing brace may have lost some: they name no reference.
        number = match["number"] or match["rest"] or (match["cut"] if match["end"] else None)
        found.append((match.group(0), _tokens.get(int(number)) if number else None))
    return found


def holds_reference(text: str) -> bool:
    """True when a string holds a reference token, whole or damaged.

    Example:
        >>> holds_reference("arn:aws:s3:::logs/*")
        False
    """
    return TOKEN_RE.search(text) is not None or bool(damaged_tokens(text))


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
