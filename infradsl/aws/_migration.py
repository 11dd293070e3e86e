"""How a stateful server's data moves to its replacement (`Migration`).

Re-exported by `infradsl.aws.ec2`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import attrs

from infradsl.core._source import user_location
from infradsl.core.hooks import register_command_directory, register_hook

__all__ = ["Migration"]


def _hook_key(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if callable(value):
        return register_hook(value)
    raise TypeError(f"'hook' must be a callable (got {type(value).__name__} {value!r})")


@attrs.frozen(kw_only=True)
class Migration:
    """What runs when a stateful instance is replaced, between the new server's creation and
    the old one's termination.

    Data volumes attached to the instance (``ec2.Volume(..., instance=server)``) move on
    their own first: the old server is stopped (writes are quiesced), each volume is
    detached and attached to the new server, which is started again if it was stopped.
    Then the hook runs. If it fails, the new server is terminated, the volumes go back,
    the old server is started again and the deploy is rolled back (exit 3).

    Give exactly one of ``hook`` and ``command``.

    Args:
        hook: a Python callable ``hook(old, new)`` given the old and new instances'
            attributes (``id``, ``private_ip``, ``public_ip``, ``availability_zone``...)
            as dicts; an exception fails the migration. It must be a module-level function
            of the app (it is found again by ``module:qualname`` when deploying).
        command: a shell command run on the deploying machine, from the app's folder,
            with ``INFRADSL_OLD_<ATTRIBUTE>`` and ``INFRADSL_NEW_<ATTRIBUTE>`` in its
            environment (``INFRADSL_OLD_PRIVATE_IP``...); a non-zero exit fails it.
        timeout: seconds the hook or command may take.

    Example:
        >>> Migration(command="./migrate.sh", timeout=600)
        Migration(hook=None, command='./migrate.sh', timeout=600)
    """

    hook: str | None = attrs.field(default=None, converter=_hook_key)
    command: str | None = None
    timeout: int = 900

    def __attrs_post_init__(self) -> None:
        if isinstance(self.command, str) and self.command:
            # Above this method: attrs' generated __init__, then the user's line.
            filename, _line = user_location(2)
            if not filename.startswith("<"):
                register_command_directory(self.command, os.path.dirname(os.path.abspath(filename)))

    def problems(self) -> list[str]:
        """Messages for everything wrong with these settings."""
        found = []
        if (self.hook is None) == (self.command is None):
            found.append("'migration' needs exactly one of hook= and command=")
        if self.command is not None and (not isinstance(self.command, str) or not self.command):
            found.append(f"'migration.command' must be a non-empty str (got {self.command!r})")
        if not isinstance(self.timeout, int) or not 1 <= self.timeout <= 86400:
            found.append(f"'migration.timeout' must be in 1..86400 seconds (got {self.timeout!r})")
        return found

    @classmethod
    def call(
        cls, hook: Callable[[dict[str, Any], dict[str, Any]], Any], *, timeout: int = 900
    ) -> Migration:
        """A migration that calls ``hook(old, new)``."""
        return cls(hook=hook, timeout=timeout)
