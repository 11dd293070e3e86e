"""The construct tree: every stack, component and resource is a node in it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from infradsl.core._source import format_location, user_location
from infradsl.errors import ConstructError, Problem

if TYPE_CHECKING:
    from infradsl.core.stack import Stack

__all__ = ["Construct", "Node"]

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# `Node._stack` before it is looked up.
_UNRESOLVED: Any = object()
# The `Stack` class, imported on first use (stack.py imports this module); an import
# statement in `Node.stack` cost a microsecond for each of 100,000 constructs.
_STACK: type[Stack] | None = None


def _stack_class() -> type[Stack]:
    global _STACK
    from infradsl.core.stack import Stack

    _STACK = Stack
    return Stack


class Node:
    """The tree side of a construct: its id, scope, children and path.

    Reached as ``construct.node``; kept apart from the construct so that resource
    attributes such as ``vpc.id`` never collide with the construct's own id.

    Example:
        >>> from infradsl import App, Stack
        >>> app = App()
        >>> stack = Stack(app, "demo")
        >>> stack.node.path
        'demo'
    """

    __slots__ = (
        "_acks",
        "_aliases",
        "_children",
        "_problems",
        "_root",
        "_stack",
        "construct",
        "id",
        "location",
        "path",
        "scope",
    )

    def __init__(self, construct: Construct, scope: Construct | None, id: str) -> None:
        self.construct = construct
        self.scope = scope
        self.id = id
        self.location = user_location(2, construct)
        self._children: dict[str, Construct] = {}
        self._acks: dict[str, str] = {}
        self._aliases: list[str] = []
        # Only the root collects problems; every other node forwards to it.
        self._problems: list[Problem] = []
        # The enclosing stack is found on first use (`stack`); the root is known now.
        self._stack: Stack | None = _UNRESOLVED
        if scope is None:
            self._root: Construct = construct
            self.path = ""
            return
        parent = scope.node
        self._root = parent._root
        self.path = f"{parent.path}/{id}" if parent.path else id
        if not isinstance(id, str) or not _ID_RE.match(id):
            self.add_problem(
                f"id {id!r} is not valid: use letters, digits, '-' and '_' "
                "(up to 128, starting with a letter or digit)"
            )
        if id in parent._children:
            first = parent._children[id].node
            self.add_problem(
                f"duplicate id {id!r} in scope {parent.path or '<app>'!r} "
                f"(first defined at {format_location(first.location)}); ids must be unique "
                "among siblings"
            )
            return
        parent._children[id] = construct

    # tree navigation -------------------------------------------------------------

    @property
    def root(self) -> Construct:
        """The root of the tree (normally the `App`)."""
        # Set at construction: a construct never changes scope.
        return self._root

    @property
    def children(self) -> list[Construct]:
        """Direct children, in the order they were created."""
        return list(self._children.values())

    def walk(self) -> Iterator[Construct]:
        """Yield this construct and every construct below it, depth first, in creation order."""
        stack = [self.construct]
        pop, extend = stack.pop, stack.extend
        while stack:
            current = pop()
            yield current
            children = current.node._children
            if children:  # most constructs (the resources) are leaves
                extend(reversed(children.values()))

    def try_find_child(self, id: str) -> Construct | None:
        """Return the direct child with this id, or ``None``."""
        return self._children.get(id)

    def find_child(self, id: str) -> Construct:
        """Return the direct child with this id.

        Raises:
            KeyError: no such child; the message suggests close ids.
        """
        child = self._children.get(id)
        if child is None:
            hint = did_you_mean(id, self._children)
            raise KeyError(f"{self.path or '<app>'} has no child {id!r}{hint}")
        return child

    @property
    def stack(self) -> Stack | None:
        """The nearest enclosing `Stack` (the construct itself if it is one), or ``None``."""
        # Cached: every resource asks at construction, validation and synth, and a
        # construct never changes scope.
        found = self._stack
        if found is not _UNRESOLVED:
            return found
        if isinstance(self.construct, _STACK or _stack_class()):
            found = self.construct
        else:
            found = None if self.scope is None else self.scope.node.stack
        self._stack = found
        return found

    # renames ------------------------------------------------------------------------

    def add_alias(self, old_path: str) -> None:
        """Declare a former path of this construct, so a rename is not a replacement.

        Every resource below it is then also known by its path under ``old_path``: renaming
        or moving a whole component keeps its resources (like a resource's ``aliases``
        option, for a subtree).

        Args:
            old_path: the former path relative to the stack, ids joined by ``/``.

        Example:
            >>> from infradsl import App, Construct, Stack
            >>> from infradsl.aws import ec2
            >>> stack = Stack(App(), "demo")
            >>> net = Construct(stack, "Network")   # was Construct(stack, "Net")
            >>> net.node.add_alias("Net")
            >>> vpc = ec2.Vpc(net, "Vpc", cidr_block="10.0.0.0/16")
            >>> net.node.aliases
            ('Net',)
        """
        from infradsl.core.stack import Stack

        location = user_location(1)
        stack = self.stack
        if stack is None or stack is self.construct or isinstance(self.construct, Stack):
            self.add_problem(
                "add_alias is for constructs inside a stack (a stack cannot be renamed: "
                "destroy it and deploy it under the new name)",
                location,
            )
            return
        parts = old_path.split("/") if isinstance(old_path, str) else [repr(old_path)]
        bad = [p for p in parts if not _ID_RE.match(p)]
        if bad:
            self.add_problem(
                f"alias {old_path!r} is not a path of ids joined by '/' (bad part "
                f"{bad[0]!r}): give the former path relative to the stack, e.g. 'Net/Vpc'",
                location,
            )
            return
        if old_path not in self._aliases:
            self._aliases.append(old_path)

    @property
    def aliases(self) -> tuple[str, ...]:
        """The former paths given with `add_alias`, relative to the stack."""
        return tuple(self._aliases)

    # problems and acknowledgements ------------------------------------------------

    def add_problem(self, message: str, location: tuple[str, int] | None = None) -> None:
        """Record a problem about this construct; it is raised with all others at synth."""
        root = self.root.node
        root._problems.append(
            Problem(self.path, message, format_location(location or self.location))
        )

    @property
    def problems(self) -> list[Problem]:
        """Problems recorded in the whole tree so far (read from the root)."""
        return list(self.root.node._problems)

    def acknowledge(self, rule: str, *, reason: str) -> None:
        """Acknowledge a `check` rule for this construct and everything below it.

        Args:
            rule: the rule id, e.g. ``"SG001"``.
            reason: why the finding is acceptable here; a real sentence is required.

        Example:
            >>> from infradsl import App, Stack
            >>> stack = Stack(App(), "demo")
            >>> stack.node.acknowledge("SG001", reason="bastion host, SSH is the point")
        """
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            self.add_problem(
                f"acknowledging rule {rule!r} needs a written reason of at least 10 characters "
                f"(got {reason!r})",
                user_location(1),
            )
            return
        self._acks[rule] = reason.strip()

    def acknowledgements(self) -> dict[str, str]:
        """Rules acknowledged on this construct or any of its scopes (inner ones win)."""
        # Asked for every resource at synth; most scopes acknowledge nothing.
        found: list[dict[str, str]] = []
        node: Node | None = self
        while node is not None:
            if node._acks:
                found.append(node._acks)
            node = node.scope.node if node.scope is not None else None
        acks: dict[str, str] = {}
        for own in reversed(found):
            acks.update(own)
        return acks


class Construct:
    """A node of the construct tree; subclass it to make reusable components.

    Args:
        scope: the parent construct (an `App`, a `Stack` or another construct).
        id: unique among the scope's children; letters, digits, ``-`` and ``_``.

    Example:
        >>> from infradsl import App, Construct, Stack
        >>> from infradsl.aws import ec2
        >>> class Network(Construct):
        ...     def __init__(self, scope: Construct, id: str) -> None:
        ...         super().__init__(scope, id)
        ...         self.vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
        >>> net = Network(Stack(App(), "demo"), "Net")
        >>> net.vpc.node.path
        'demo/Net/Vpc'
    """

    node: Node

    def __init__(self, scope: Construct | None, id: str) -> None:
        if scope is not None and not isinstance(scope, Construct):
            filename, line = user_location(1)
            raise ConstructError(
                f"{filename}:{line}: the scope of {type(self).__name__}({id!r}) must be a "
                f"Construct (an App, a Stack or a component), got {type(scope).__name__}: "
                f"pass `self` from inside a component or stack"
            )
        self.node = Node(self, scope, id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.node.path or '<root>'}>"


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` (by similarity, else by shared prefix), or None."""
    names = sorted(str(c) for c in candidates)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close and len(name) >= 3:
        close = [n for n in names if n.startswith(name) or name.startswith(n)][:1]
    return close[0] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""``."""
    match = closest(name, candidates)
    return f" (did you mean {match!r}?)" if match is not None else ""
