"""The root of a construct tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infradsl.core.construct import Construct

if TYPE_CHECKING:
    from infradsl.core.stack import Stack

__all__ = ["App"]

# Lists that the app loader pushes while it imports a user module; every App created
# meanwhile is appended to each, so `infradsl deploy app.py` needs no boilerplate.
_tracking: list[list[App]] = []


class App(Construct):
    """The root of a construct tree: holds the stacks of one application.

    Args:
        state: where state lives for this app, e.g. ``"s3://acme-infra-state/prod"``; the
            command line's ``--state`` (or ``INFRADSL_STATE``) takes precedence.

    Example:
        >>> from infradsl import App, Stack
        >>> app = App()
        >>> _ = Stack(app, "network", region="eu-west-1")
        >>> [s.name for s in app.stacks]
        ['network']
    """

    def __init__(self, *, state: str | None = None) -> None:
        super().__init__(None, "")
        #: Where the app's state lives (a directory or ``s3://bucket/prefix``) when the
        #: command line gives no ``--state`` (nor ``INFRADSL_STATE``).
        self.state = state
        for created in _tracking:
            created.append(self)

    @property
    def stacks(self) -> list[Stack]:
        """The stacks of this app, in creation order."""
        from infradsl.core.stack import Stack

        return [c for c in self.node.walk() if isinstance(c, Stack)]

    def __repr__(self) -> str:
        return f"<App stacks={[s.name for s in self.stacks]}>"
