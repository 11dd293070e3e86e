"""What changed between two states of a stack: the content of one journal record.

A deploy writes its state before and after every mutating call. Backends append the
change (a `Delta`) to the stack's journal instead of rewriting the whole document, so a
record costs the same at 20,000 resources as at 20 (see ``docs/state.md``).

Neither finding the change nor taking the snapshot to write may cost a walk over every
resource. The executor keeps its resources in a `TrackedDict`, which remembers the keys
it set or removed, and hands the backend a `ResourceMap`: an immutable snapshot made from
the previous one plus the changed entries (sharing the rest), which knows the keys that
differ from the map of the executor's previous successful write. A backend that wrote
that previous map itself trusts the list; otherwise `diff` compares every entry (by
identity first, so unchanged entries cost one pointer comparison).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, overload

import attrs

from infradsl.state.model import ResourceState, StackState

__all__ = ["Delta", "ResourceMap", "TrackedDict", "apply_record", "diff"]

V = TypeVar("V")
T = TypeVar("T")

# Fields of a state document a record may change besides resources, pending and serial.
_FIELDS = ("outputs", "local_instance", "region", "target")

_tokens = itertools.count(1)
_MAX_DEPTH = 16  # layers of a `ResourceMap` before it is flattened again


class TrackedDict(dict[str, V]):
    """A dict that remembers which keys were set or removed since `take_changed`.

    Every mutating method records its keys, so a journal built from the record never
    misses a change. Reads cost what a dict's cost.
    """

    __slots__ = ("_changed",)

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        super().__init__(items or {})
        self._changed: set[str] = set()

    def take_changed(self) -> set[str]:
        """The keys set or removed since the last call (and forget them)."""
        changed, self._changed = self._changed, set()
        return changed

    def __setitem__(self, key: str, value: V) -> None:
        self._changed.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._changed.add(key)
        super().__delitem__(key)

    @overload
    def pop(self, key: str, /) -> V: ...

    @overload
    def pop(self, key: str, default: V, /) -> V: ...

    @overload
    def pop(self, key: str, default: T, /) -> V | T: ...

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._changed.add(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, V]:
        key, value = super().popitem()
        self._changed.add(key)
        return key, value

    def setdefault(self, key: str, default: V, /) -> V:
        if key not in self:
            self._changed.add(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        changes = dict(*args, **kwargs)
        self._changed.update(changes)
        super().update(changes)

    def __ior__(self, other: Any) -> TrackedDict[V]:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        self._changed.update(self)
        super().clear()


class ResourceMap(Mapping[str, ResourceState]):
    """The resources of a state about to be written: an immutable mapping that knows what
    differs from an earlier map, and shares what it did not change with the map it was
    made from (`updated`), so making one costs the changes, not the stack.

    Args:
        items: the resources.
        base: the `token` of the map this one follows, or ``None``.
        changed: every key whose entry may differ from ``base`` (set or removed since).

    Attributes:
        token: unique to this map.
        base: as given.
        changed: as given.
    """

    __slots__ = ("_depth", "_flat", "_layer", "_len", "_parent", "base", "changed", "token")

    def __init__(
        self,
        items: Mapping[str, ResourceState] | Iterable[tuple[str, ResourceState]] = (),
        *,
        base: int | None = None,
        changed: Iterable[str] = (),
    ) -> None:
        # A map is either flat (``_flat``) or a layer of changes on ``_parent`` (a value of
        # None removes the key); layers are at most `_MAX_DEPTH` deep. ``_flat`` of a
        # layer is filled once, when it is first iterated, and never changes after.
        self._flat: dict[str, ResourceState] | None = dict(items)
        self._layer: dict[str, ResourceState | None] = {}
        self._parent: ResourceMap | None = None
        self._depth = 0
        self._len = len(self._flat)
        self.token = next(_tokens)
        self.base = base
        self.changed = frozenset(changed)

    def updated(
        self,
        changes: Mapping[str, ResourceState | None],
        *,
        base: int | None,
        changed: Iterable[str],
    ) -> ResourceMap:
        """This map with ``changes`` applied (``None`` removes the key), as a new map."""
        if self._depth >= _MAX_DEPTH:
            # Flattened once per `_MAX_DEPTH` maps: a constant share of each.
            flat = dict(self._entries())
            for key, value in changes.items():
                if value is None:
                    flat.pop(key, None)
                else:
                    flat[key] = value
            return ResourceMap(flat, base=base, changed=changed)
        new = object.__new__(ResourceMap)
        new._flat = None
        new._layer = dict(changes)
        new._parent = self
        new._depth = self._depth + 1
        length = self._len
        for key, value in changes.items():
            present = key in self
            length += (value is not None) - present
        new._len = length
        new.token = next(_tokens)
        new.base = base
        new.changed = frozenset(changed)
        return new

    def __getitem__(self, key: str) -> ResourceState:
        node = self
        while node._flat is None:
            if key in node._layer:
                value = node._layer[key]
                if value is None:
                    raise KeyError(key)
                return value
            assert node._parent is not None
            node = node._parent
        return node._flat[key]

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def _entries(self) -> dict[str, ResourceState]:
        if self._flat is None:
            assert self._parent is not None
            flat = dict(self._parent._entries())
            for key, value in self._layer.items():
                if value is None:
                    flat.pop(key, None)
                else:
                    flat[key] = value
            self._flat = flat
        return self._flat

    def __repr__(self) -> str:
        return f"ResourceMap({self._entries()!r})"


@attrs.frozen
class Delta:
    """The change from one state to the next: one journal record.

    Attributes:
        serial: the serial of the new state.
        put: resources added or changed, by key.
        removed: keys of resources removed.
        dropped: positions (in the previous state's ``pending``) of the intents removed.
        added: intents added, in order, after those kept.
        fields: other fields that changed (``outputs``, ``local_instance``, ``region``,
            ``target``), with their new value.
    """

    serial: int
    put: Mapping[str, ResourceState] = attrs.Factory(dict)
    removed: tuple[str, ...] = ()
    dropped: tuple[int, ...] = ()
    added: tuple[Mapping[str, Any], ...] = ()
    fields: Mapping[str, Any] = attrs.Factory(dict)

    def to_json(self) -> dict[str, Any]:
        """Plain data; empty parts are left out."""
        data: dict[str, Any] = {"serial": self.serial}
        if self.put:
            data["put"] = {key: res.to_json() for key, res in self.put.items()}
        if self.removed:
            data["removed"] = list(self.removed)
        if self.dropped:
            data["dropped"] = list(self.dropped)
        if self.added:
            data["added"] = [dict(p) for p in self.added]
        data.update(self.fields)
        return data


def diff(old: StackState, new: StackState) -> Delta | None:
    """The change from ``old`` to ``new``.

    Returns:
        The `Delta`, or ``None`` when ``new`` is another stack or another lineage (it
        replaces the document instead of following it).
    """
    if old.stack != new.stack or old.lineage != new.lineage:
        return None
    put: dict[str, ResourceState] = {}
    removed: list[str] = []
    before, after = old.resources, new.resources
    for key in sorted(_changed_keys(before, after)):
        now = after.get(key)
        was = before.get(key)
        if now is None:
            if key in before:
                removed.append(key)
        elif now is not was and now != was:
            put[key] = now
    dropped, added = _pending(old.pending, new.pending)
    fields: dict[str, Any] = {}
    if new.outputs is not old.outputs and new.outputs != old.outputs:
        fields["outputs"] = dict(new.outputs)
    for name in _FIELDS[1:]:
        if getattr(new, name) != getattr(old, name):
            fields[name] = getattr(new, name)
    return Delta(new.serial, put, tuple(removed), dropped, added, fields)


def _changed_keys(
    before: Mapping[str, ResourceState], after: Mapping[str, ResourceState]
) -> Iterable[str]:
    if (
        isinstance(after, ResourceMap)
        and isinstance(before, ResourceMap)
        and after.base == before.token
    ):
        return after.changed
    # No usable hint: compare every entry, by identity (unchanged entries are the same
    # objects in states built from one another).
    changed = [key for key, res in after.items() if before.get(key) is not res]
    changed += [key for key in before if key not in after]
    return changed


def _pending(
    old: tuple[Mapping[str, Any], ...], new: tuple[Mapping[str, Any], ...]
) -> tuple[tuple[int, ...], tuple[Mapping[str, Any], ...]]:
    """Intents dropped (by position in ``old``) and added (at the end)."""
    if old is new or old == new:
        return (), ()
    remaining = {id(intent) for intent in new}
    kept = [intent for intent in old if id(intent) in remaining]
    if len(kept) <= len(new) and all(a is b for a, b in zip(kept, new, strict=False)):
        dropped = tuple(i for i, intent in enumerate(old) if id(intent) not in remaining)
        return dropped, new[len(kept) :]
    return tuple(range(len(old))), new


def apply_record(document: dict[str, Any], record: Mapping[str, Any]) -> None:
    """Apply a journal record (`Delta.to_json`) to a state document's plain data.

    Raises:
        ValueError: the record does not follow the document (its serial is not higher).
    """
    serial = int(record["serial"])
    if serial <= int(document["serial"]):
        raise ValueError(
            f"journal record of serial {serial} follows state serial {document['serial']}"
        )
    document["serial"] = serial
    resources: dict[str, Any] = document["resources"]
    for key in record.get("removed", ()):
        resources.pop(key, None)
    resources.update(record.get("put", {}))
    dropped = set(record.get("dropped", ()))
    added = record.get("added", ())
    if dropped or added:
        pending = document.get("pending", [])
        document["pending"] = [p for i, p in enumerate(pending) if i not in dropped] + list(added)
    for name in _FIELDS:
        if name in record:
            document[name] = record[name]
