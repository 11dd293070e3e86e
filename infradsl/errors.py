"""The one error tree of infradsl.

```
InfraDslError
├── ConstructError (TypeError)      a construct was built with the wrong scope or id type
├── ReferenceUseError (TypeError)   a reference used as if its value were known: if, len(),
│   │                               slicing, == 'x', !r in an f-string
│   └── ReferenceAttributeError (AttributeError)
│                                   a str method (.upper(), .split()...) called on one
├── ValidationError (ValueError)    one or more problems in the user's app, reported together
├── LoadError                       the app module could not be loaded or defines no app
├── SynthError                      the tree could not be turned into a document
└── HandlerError                    a handler could not do what the engine asked
    │                               (these live in `infradsl.providers.handler`)
    ├── CloudUnreachableError       no answer or refused credentials, before any change
    ├── OutcomeUnknownError         a mutating call failed; whether it took effect is open
    ├── WaitError                   a bounded wait ended; carries the last observed state
    │   ├── WaitTimeoutError (TimeoutError)
    │   │                           it ran out of attempts
    │   └── WaitFailedError (RuntimeError)
    │                               the resource stopped, failed or vanished instead
    ├── ResourceNotFoundError (LookupError)
    │                               a resource an operation needs is not there
    ├── ResourceConflictError       a name a create needs is taken by something else
    ├── InvalidPropertyError (ValueError)
    │                               a resolved property the API cannot take
    ├── SecretError                 a secret's value could not be obtained or stored
    ├── BucketNotEmptyError         a bucket holding objects without force_destroy
    └── ProvisionError (RuntimeError)
                                    an image's provisioning files or steps failed
```

Errors caused by user code carry the construct path and the user's ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "ConstructError",
    "InfraDslError",
    "LoadError",
    "Problem",
    "ReferenceAttributeError",
    "ReferenceUseError",
    "SynthError",
    "ValidationError",
]


@attrs.frozen
class Problem:
    """One problem found in the user's app.

    Attributes:
        path: the construct path (``webapp/Net/Vpc``), or ``""`` for the app itself.
        message: what was expected and what was got.
        location: the user's ``file:line`` where the construct was created, or ``""``.
    """

    path: str
    message: str
    location: str = ""

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.path}: " if self.path else ""
        return f"{where}{what}{self.message}"

    def sort_key(self) -> tuple[str, int, str, str]:
        """Order by file, then line number, then path and message."""
        filename, _, line = self.location.rpartition(":")
        if line.isdigit():
            return (filename, int(line), self.path, self.message)
        return (self.location, 0, self.path, self.message)


class InfraDslError(Exception):
    """Root of every error infradsl raises on purpose."""


class ConstructError(InfraDslError, TypeError):
    """A construct was created with a scope or id of the wrong kind."""


class ReferenceUseError(InfraDslError, TypeError):
    """A reference was used as if its value were known at synth time.

    Raised at once, at the user's line: a reference's value only exists at deploy time,
    so it can be put whole into an f-string or passed as a property, but not tested,
    measured, sliced, compared or changed by ``str`` methods.

    Attributes:
        location: the user's ``file:line``.
    """

    def __init__(self, message: str, location: str = "") -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class ReferenceAttributeError(ReferenceUseError, AttributeError):
    """A ``str`` method (``.upper()``, ``.split()``...) was called on a reference.

    Also an `AttributeError`, so ``hasattr(ref, "upper")`` stays ``False``.
    """


class LoadError(InfraDslError):
    """The app module could not be imported, or it defines no app."""


class SynthError(InfraDslError):
    """The construct tree could not be synthesized."""


class ValidationError(InfraDslError, ValueError):
    """Problems found in an app, collected and reported together.

    Attributes:
        problems: every problem, sorted by location, path and message.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = sorted(set(problems), key=Problem.sort_key)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        lines = [f"{head} in the app:"]
        lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)
