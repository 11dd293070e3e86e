"""Journal records: what changed between two states, found without walking every resource."""

from __future__ import annotations

import json

import attrs
import pytest
from backend_conformance import state

from infradsl.state import _journal
from infradsl.state.delta import Delta, ResourceMap, TrackedDict, apply_record, diff
from infradsl.state.model import ResourceState, StackState


def resource(physical_id: str) -> ResourceState:
    return ResourceState("aws.ec2.Vpc", physical_id, {}, {}, {"id": physical_id})


def replayed(old: StackState, *records: Delta) -> StackState:
    document = json.loads(json.dumps(old.to_json()))
    for record in records:
        apply_record(document, json.loads(json.dumps(record.to_json())))
    return StackState.from_json(document)


def test_a_record_holds_only_what_changed_and_replays_to_the_new_state() -> None:
    old = state("web", 1, resources=3)
    intent = {"id": "a", "op": "create", "path": "Vpc9"}
    resources = {**old.resources, "Vpc9": resource("vpc-9")}
    del resources["Vpc0"]
    new = attrs.evolve(
        old, serial=2, resources=resources, pending=(intent,), outputs={"VpcId": "vpc-9"}
    )
    delta = diff(old, new)
    assert delta is not None
    assert delta.to_json() == {
        "serial": 2,
        "put": {"Vpc9": resource("vpc-9").to_json()},
        "removed": ["Vpc0"],
        "added": [intent],
        "outputs": {"VpcId": "vpc-9"},
    }
    assert replayed(old, delta) == new
    settled = attrs.evolve(new, serial=3, pending=())
    again = diff(new, settled)
    assert again is not None and again.to_json() == {"serial": 3, "dropped": [0]}
    assert replayed(old, delta, again) == settled


def test_pending_intents_keep_their_order_when_one_in_the_middle_settles() -> None:
    a, b, c, d = ({"id": name} for name in "abcd")
    old = attrs.evolve(state("web", 1), pending=(a, b, c))
    new = attrs.evolve(old, serial=2, pending=(a, c, d))
    delta = diff(old, new)
    assert delta is not None and (delta.dropped, delta.added) == ((1,), (d,))
    assert replayed(old, delta).pending == (a, c, d)


def test_another_lineage_is_not_a_change_but_a_new_document() -> None:
    assert diff(state("web", 1), state("web", 2, lineage="L2")) is None


def test_a_resource_map_hint_is_trusted_only_after_the_map_it_names() -> None:
    first = ResourceMap({"A": resource("a"), "B": resource("b")})
    old = attrs.evolve(state("web", 1), resources=first)
    # The hint says only B changed: A's entry is not even compared.
    second = ResourceMap({"A": resource("a-new"), "B": resource("b-new")}, base=first.token)
    second.changed = frozenset({"B"})
    delta = diff(old, attrs.evolve(old, serial=2, resources=second))
    assert delta is not None and set(delta.put) == {"B"}
    # A hint naming another map is ignored: every entry is compared.
    stale = ResourceMap(second, base=first.token + 1000, changed={"B"})
    delta = diff(old, attrs.evolve(old, serial=2, resources=stale))
    assert delta is not None and set(delta.put) == {"A", "B"}


def test_a_resource_map_made_from_another_reads_like_a_dict_through_many_layers() -> None:
    expected = {f"R{i}": resource(f"r-{i}") for i in range(30)}
    current = ResourceMap(expected)
    for step in range(40):  # more layers than are kept before flattening
        changes: dict[str, ResourceState | None] = {
            f"R{step}": None,
            f"R{step + 30}": resource(f"new-{step}"),
            f"R{(step * 7 + 3) % 30}": resource(f"changed-{step}"),
        }
        for key, value in changes.items():
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
        before = current
        current = current.updated(changes, base=before.token, changed=changes)
        assert len(current) == len(expected)
        assert all(current[key] is value for key, value in expected.items())
        assert "R-missing" not in current and f"R{step}" not in current
        if step % 9 == 0:
            assert dict(current) == expected and current == expected
    assert before != current, "an earlier map is unchanged"


def test_a_tracked_dict_records_every_key_set_or_removed() -> None:
    tracked: TrackedDict[int] = TrackedDict({"a": 1, "b": 2, "c": 3})
    tracked["d"] = 4
    tracked.pop("a")
    tracked.pop("missing", None)
    del tracked["b"]
    tracked.update({"e": 5})
    tracked.setdefault("f", 6)
    assert tracked.take_changed() == {"a", "b", "d", "e", "f"}
    assert tracked.take_changed() == set()
    tracked.clear()
    assert tracked.take_changed() == {"c", "d", "e", "f"}


def test_a_record_cut_short_is_ignored_and_damage_before_good_records_is_refused() -> None:
    head = _journal.header("doc1")
    first, second = _journal.encode({"serial": 2}), _journal.encode({"serial": 3})
    whole = head + first + second
    assert _journal.parse(whole).records == [{"serial": 2}, {"serial": 3}]
    torn = _journal.parse(whole[:-5])
    assert (torn.records, torn.end, torn.torn) == ([{"serial": 2}], len(head + first), True)
    flipped = head + first.replace(b'"serial":2', b'"serial":7') + second
    with pytest.raises(ValueError, match="damaged record"):
        _journal.parse(flipped)
    assert _journal.parse(head[:-3]).document is None
    assert _journal.follows(whole, "doc1") and not _journal.follows(whole, "doc2")
