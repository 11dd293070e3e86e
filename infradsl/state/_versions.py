"""Rules shared by every backend: who may overwrite a state, and what a restore writes."""

from __future__ import annotations

import attrs

from infradsl.state.backend import StateError
from infradsl.state.model import StackState

__all__ = ["check_successor", "corrupt", "missing_version", "restored"]


def check_successor(stored_serial: int, stored_lineage: str, state: StackState, where: str) -> None:
    """Refuse to store ``state`` over a stored document it does not succeed.

    Args:
        stored_serial: the serial of the stored document.
        stored_lineage: its lineage.
        state: the document about to be written.
        where: where the stored document lives, for the message.

    Raises:
        StateError: the lineage differs, or the stored serial is not older.
    """
    if stored_lineage != state.lineage:
        raise StateError(
            f"refusing to overwrite state of {state.stack!r}: lineage {stored_lineage} in "
            f"{where} differs from {state.lineage} (another stack with the same name?)"
        )
    if stored_serial >= state.serial:
        raise StateError(
            f"refusing to overwrite state of {state.stack!r}: another run wrote state serial "
            f"{stored_serial} to {where}, which is not older than {state.serial}; nothing "
            "was written"
        )


def restored(
    stack: str,
    serial: int,
    version: StackState,
    current: StackState | None,
    serials: list[int],
) -> StackState:
    """The document that makes ``version`` current again.

    Args:
        stack: the stack name.
        serial: the serial of the version asked for.
        version: that version's document.
        current: the current state, if any.
        serials: the serials of every kept version.

    Raises:
        StateError: the current state has another lineage.
    """
    if current is not None and current.lineage != version.lineage:
        raise StateError(
            f"refusing to restore version {serial} of {stack!r}: it belongs to lineage "
            f"{version.lineage}, but the current state (serial {current.serial}) has lineage "
            f"{current.lineage}: the stack was destroyed and deployed again since. Destroy "
            "the current stack first to restore that version"
        )
    top = max([*serials, current.serial if current else 0])
    return attrs.evolve(version, serial=top + 1)


def missing_version(stack: str, serial: int, serials: list[int]) -> StateError:
    """The error for a version that is not kept."""
    kept = ", ".join(str(s) for s in serials) or "none"
    return StateError(f"stack {stack!r} has no state version {serial} (kept versions: {kept})")


def corrupt(what: str, reason: Exception, stack: str | None) -> StateError:
    """The error for a document that cannot be parsed.

    Args:
        what: the document (``state file PATH``, ``state object URL``).
        reason: why it cannot be parsed.
        stack: the stack, when ``what`` is its current state: the message then says how
            to put back the newest good version.
    """
    text = f"{what} is corrupt ({reason}); nothing was changed"
    if stack is not None:
        text += (
            f". Find the newest good version with `infradsl state history {stack}` and put it "
            f"back with `infradsl state restore {stack} SERIAL`"
        )
    return StateError(text)
