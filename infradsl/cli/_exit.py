"""The exit codes of the ``infradsl`` command: the one table (DESIGN.md §4).

Every command ends through it: an error class, a deploy's `Status`, a plan with changes
or drift found each map to one `ExitCode` here, and nowhere else.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infradsl.engine.executor import Status

__all__ = ["ExitCode", "for_error", "for_status"]


class ExitCode(enum.IntEnum):
    """What the process returns."""

    OK = 0
    BAD_INPUT = 1
    """Bad input, a finding not acknowledged, or refused: nothing was changed."""
    CHANGES = 2
    """``plan --detailed-exitcode`` found changes; ``drift`` found drift."""
    ROLLED_BACK = 3
    """A deploy failed and was rolled back: the cloud and the state are as before."""
    INCOMPLETE = 4
    """A deploy failed and what is left is listed: the rollback was incomplete or not
    asked for, or deleting the old resources failed."""
    LOCKED = 5
    """Another run holds the state's lock."""
    INTERRUPTED = 130
    """Stopped by a signal (Ctrl-C): what completed is saved in state."""


def for_status(status: Status) -> ExitCode:
    """The exit code of a deploy, destroy or apply that ended with ``status``."""
    from infradsl.engine.executor import Status

    return {
        Status.OK: ExitCode.OK,
        Status.ROLLED_BACK: ExitCode.ROLLED_BACK,
        Status.ROLLBACK_INCOMPLETE: ExitCode.INCOMPLETE,
        Status.FAILED_NO_ROLLBACK: ExitCode.INCOMPLETE,
        Status.CLEANUP_FAILED: ExitCode.INCOMPLETE,
        Status.INTERRUPTED: ExitCode.INTERRUPTED,
    }[status]


def for_error(exc: BaseException) -> ExitCode:
    """The exit code of an infradsl error that ended a command."""
    from infradsl.state.backend import StateLockedError

    return ExitCode.LOCKED if isinstance(exc, StateLockedError) else ExitCode.BAD_INPUT
