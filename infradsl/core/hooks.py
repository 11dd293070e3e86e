"""Python callables named in synthesized documents (a migration hook).

A document holds data only, so a callable is written as its key, ``module:qualname``, and
registered here when the user's code builds the tree; the engine finds it by key in the
same process (``infradsl deploy`` imports the app before deploying).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "command_directory",
    "find_hook",
    "hook_key",
    "register_command_directory",
    "register_hook",
]

_HOOKS: dict[str, Callable[..., Any]] = {}


def hook_key(fn: Callable[..., Any]) -> str:
    """The key a callable is synthesized as: ``module:qualname``."""
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}:{name}"


def register_hook(fn: Callable[..., Any]) -> str:
    """Remember ``fn`` under its `hook_key` and return the key."""
    key = hook_key(fn)
    _HOOKS[key] = fn
    return key


def find_hook(key: str) -> Callable[..., Any] | None:
    """The callable registered under ``key`` in this process, or ``None``."""
    return _HOOKS.get(key)


# A command -> the folder of the file that declared it: commands in documents are
# written as the user wrote them (``sh db/migrate.sh``), relative to the app.
_COMMAND_DIRS: dict[str, str] = {}


def register_command_directory(command: str, directory: str) -> None:
    """Remember where ``command`` runs from: the folder of the file declaring it."""
    _COMMAND_DIRS[command] = directory


def command_directory(command: str) -> str | None:
    """The folder ``command`` was declared in, in this process, or ``None``."""
    return _COMMAND_DIRS.get(command)
