"""Relations between the stacks of an app: which stack reads from which, which resources
of other stacks still use a producer's resource, and what a consumer's plan learns from
its producers (their state, and their plan when they change in the same run).

Everything here is computed from synthesized documents, state and plans: no I/O.
A consumer records its references unresolved in state (``inputs``) and resolved
(``properties``), so the relations are known from state alone, with no code at hand
(``destroy --stack``, stacks removed from the code).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from infradsl.plan.change import Action, Plan, PropertyDiff, ResourceChange
from infradsl.plan.values import (
    UnresolvedError,
    document_references,
    references,
    resolve,
    state_lookup,
)
from infradsl.state.model import OLD_SUFFIX, ResourceState, StackState, StateKey

__all__ = [
    "OLD_SUFFIX",
    "Reader",
    "Upstream",
    "document_producers",
    "readers",
    "stack_dependencies",
    "state_producers",
]

def document_producers(document: Mapping[str, Any]) -> set[str]:
    """The other stacks a synthesized document reads from."""
    found = document_references(document)
    return {s for s, _p, _a in found if s} - {document["stack"]}


def state_producers(state: StackState) -> set[str]:
    """The other stacks a stack's deployed resources read from (their recorded inputs)."""
    found = references([dict(r.inputs) for r in state.resources.values()])
    return {s for s, _p, _a in found if s} - {state.stack}


def stack_dependencies(
    documents: Mapping[str, Mapping[str, Any] | None],
    states: Mapping[str, StackState | None],
) -> dict[str, set[str]]:
    """Per stack of the run, the stacks it reads from.

    Args:
        documents: stack -> its document, or ``None`` when it is destroyed.
        states: stack -> its state (``None`` or absent when never deployed).

    A stack with a document reads what its code references; a stack being destroyed
    has no code, so what its deployed resources referenced counts.
    """
    deps: dict[str, set[str]] = {}
    for name, document in documents.items():
        if document is not None:
            deps[name] = document_producers(document)
        else:
            state = states.get(name)
            deps[name] = state_producers(state) if state is not None else set()
    return deps


@attrs.frozen(order=True)
class Reader:
    """A resource of another stack that uses a value of a producer's resource.

    Attributes:
        stack: the consumer stack.
        path: the consumer's resource (its logical id in state).
        reads: what it reads, as ``<producer path>.<attribute>``.
    """

    stack: str
    path: str
    reads: str

    def __str__(self) -> str:
        return f"{self.stack}/{self.path} (reads {self.reads})"


def readers(
    producer: str,
    key: str,
    resource: ResourceState,
    states: Mapping[str, StackState],
) -> list[Reader]:
    """The resources of other stacks whose deployed properties still hold a value of
    ``resource``, sorted.

    Args:
        producer: the producer stack.
        key: the resource's key in the producer's state: a logical id, or the old half
            of a replacement (``<path>#old``).
        resource: the resource.
        states: the states to search (the producer's own is skipped).

    A reference is recorded by path, so after a replacement both halves match it; the
    value the consumer was deployed with tells which half it uses. A consumer that was
    re-pointed no longer reads the old half.
    """
    path = StateKey.parse(key).path
    found: set[Reader] = set()
    for stack, state in states.items():
        if stack == producer:
            continue
        for consumer_path, consumer in state.resources.items():
            for ref_stack, ref_path, attribute in references(dict(consumer.inputs)):
                if ref_stack != producer or ref_path != path:
                    continue
                value = resource.attributes.get(attribute)
                if value is not None and _holds(consumer.properties, value):
                    found.add(Reader(stack, consumer_path, f"{path}.{attribute}"))
    return sorted(found)


def _holds(tree: Any, value: Any) -> bool:
    """Whether ``value`` is somewhere in ``tree`` (inside strings too: user data, ARNs)."""
    if tree == value:
        return True
    if isinstance(tree, Mapping):
        return any(_holds(v, value) for v in tree.values())
    if isinstance(tree, list | tuple):
        return any(_holds(v, value) for v in tree)
    if isinstance(tree, str) and isinstance(value, str) and value in tree:
        # As a whole word: subnet-1 is not inside subnet-12, 10.0.1.5 not inside 10.0.1.50.
        return re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", tree) is not None
    return False


def _pending(change: ResourceChange | None) -> bool:
    """The resource gets new attribute values in this run (so they are known only after)."""
    return change is not None and (
        change.action in (Action.REPLACE, Action.CREATE) or change.missing
    )


@attrs.frozen
class Upstream:
    """What one stack's plan knows about the stacks it reads from.

    Attributes:
        stack: the stack being planned (the consumer).
        states: the states of the app's stacks (the consumer's own included).
        plans: the plans of producers planned earlier in the same run.
    """

    stack: str
    states: Mapping[str, StackState] = attrs.Factory(dict)
    plans: Sequence[Plan] = ()

    def _change(self, stack: str, path: str) -> ResourceChange | None:
        for plan in self.plans:
            if plan.stack == stack:
                return next((c for c in plan.changes if c.path == path), None)
        return None

    def diffs(
        self,
        properties: Mapping[str, Any],
        old: ResourceState,
        *,
        skip: Iterable[str],
        forcing: Iterable[str],
    ) -> list[tuple[PropertyDiff, str]]:
        """The changes of a consumer's properties that come from its producers, each with
        its reason.

        A property that reads a producer's resource that is replaced (or created again) in
        this run is known only after the producer deploys; a property whose producer
        value changed since the consumer was deployed (the producer was deployed on its
        own, or the consumer's deploy failed) changes to the producer's current value.

        Args:
            properties: the consumer resource's desired (synthesized) properties.
            old: the consumer resource's state.
            skip: properties already planned or ignored.
            forcing: properties whose change replaces the resource.
        """
        if not self.plans and self.states.keys() <= {self.stack}:
            # No other stack has a state or a plan: a reference to one can be neither
            # pending nor resolved, so nothing changes through it (the common case of a
            # single stack; asked for every resource).
            return []
        skipped, forces = set(skip), set(forcing)
        own = self.states.get(self.stack)
        lookup = state_lookup(self.stack, own.resources if own else {}, self.states)
        found: list[tuple[PropertyDiff, str]] = []
        for name in sorted(properties):
            value = properties[name]
            cross = sorted(
                {(s, p, a) for s, p, a in references(value) if s is not None and s != self.stack}
            )
            if name in skipped or not cross:
                continue
            replaced = sorted({f"{s}/{p}" for s, p, _a in cross if _pending(self._change(s, p))})
            if replaced:
                verb = "is" if len(replaced) == 1 else "are"
                found.append(
                    (
                        PropertyDiff(
                            name,
                            old.inputs.get(name),
                            value,
                            name in forces,
                            known_after_deploy=True,
                        ),
                        f"'{name}' refers to {', '.join(replaced)}, which {verb} replaced",
                    )
                )
                continue
            if name not in old.properties:
                continue  # adopted without its properties: nothing to compare with
            try:
                current = resolve(value, lookup)
            except UnresolvedError:
                continue
            if current != old.properties[name]:
                where = ", ".join(sorted({f"{s}/{p}.{a}" for s, p, a in cross}))
                found.append(
                    (
                        PropertyDiff(name, old.properties[name], current, name in forces),
                        f"'{name}' reads {where}, which changed since this stack was deployed",
                    )
                )
        return found
