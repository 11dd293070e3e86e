"""Events the engine emits while it works; renderers (the CLI's progress view) listen."""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["Event", "Listener"]


@attrs.frozen
class Event:
    """Something happened to one resource.

    Attributes:
        kind: ``start``, ``done``, ``failed``, ``rollback-start``, ``rollback-done``,
            ``rollback-failed``, ``note``.
        stack: the stack name.
        path: the logical id (``""`` for stack-level notes).
        verb: ``create``, ``update``, ``replace``, ``delete``, ``forget``, ``undo ...``.
        type: the resource type name.
        detail: a physical id, an error message or a note.
        seconds: how long the operation took (``done``/``failed``).
    """

    kind: str
    stack: str
    path: str = ""
    verb: str = ""
    type: str = ""
    detail: str = ""
    seconds: float = 0.0


Listener = Callable[[Event], None]
