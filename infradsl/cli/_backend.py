"""Where a command's state is, and the one opener of state backends every command uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from infradsl.state.backend import StateBackend

__all__ = ["app_option", "open_state", "state_location"]

F = TypeVar("F", bound=Callable[..., Any])


def app_option(command: F) -> F:
    """The ``--app APP`` option of the commands that work on state without deploying: they
    then use the state location the app sets (``App(state=...)``), as ``deploy`` does."""
    return click.option(
        "--app",
        "app_path",
        default=None,
        metavar="APP",
        help="The app file: use the state location it sets (App(state=...)) unless --state "
        "or INFRADSL_STATE gives one.",
    )(command)


def state_location(given: str | None, app_path: str | None) -> str | None:
    """The state location of a command: ``--state`` (or ``INFRADSL_STATE``) first, then
    the one the app at ``app_path`` sets; ``None`` means the default directory.

    Raises:
        LoadError: the app cannot be loaded.
    """
    if given or app_path is None:
        return given
    from infradsl.cli._loader import load_app

    return load_app(app_path).state


def open_state(target: str, location: str | None, *, endpoint: str | None = None) -> StateBackend:
    """The state backend at ``location`` for ``target``.

    Args:
        target: ``local`` or ``aws``.
        location: a directory, ``s3://bucket/prefix``, or ``None`` (``.infradsl/state``).
        endpoint: the local cloud's URL when the caller already has it: S3 state of the
            local target lives in the local cloud (started here when needed).
    """
    from infradsl.state.factory import open_backend

    remote = (location or "").lower().startswith("s3://")
    if target == "local" and remote and endpoint is None:
        from infradsl.local.server import ensure_local_cloud

        endpoint = ensure_local_cloud().endpoint
    return open_backend(location, target, endpoint_url=endpoint if remote else None)
