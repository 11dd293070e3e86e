"""The run's journal: intents written ahead, entries, old halves of replacements in state."""

from __future__ import annotations

from pathlib import Path

import pytest

from infradsl.engine.journal import Journal, Op
from infradsl.state.local import LocalBackend
from infradsl.state.model import ResourceState, StackState


def _res(physical_id: str, attempt: int = 0) -> ResourceState:
    return ResourceState(
        "aws.ec2.Vpc", physical_id, {}, {"cidr_block": "10.0.0.0/16"}, {}, (), {}, attempt
    )


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "state", "local")


def _journal(backend: LocalBackend, resources: dict[str, ResourceState]) -> Journal:
    state = StackState(stack="demo", target="local", region="us-east-1", resources=resources)
    backend.write(state)
    return Journal("demo", "us-east-1", "local", backend.read("demo"), backend)


def _read(backend: LocalBackend) -> StackState:
    state = backend.read("demo")
    assert state is not None, "the journal wrote no state"
    return state


def test_an_intent_is_in_the_state_before_its_call_and_leaves_with_the_result(
    backend: LocalBackend,
) -> None:
    journal = _journal(backend, {})
    intent = journal.intend({"op": Op.CREATE.value, "path": "Vpc", "type": "aws.ec2.Vpc"})
    assert [i["path"] for i in _read(backend).pending] == ["Vpc"]
    journal.record(Op.CREATE, "Vpc", None, _res("vpc-1"), "Vpc", intent)
    state = _read(backend)
    assert state.pending == ()
    assert state.resources["Vpc"].physical_id == "vpc-1"


def test_a_replacement_keeps_the_old_half_in_state_as_path_old_until_it_is_deleted(
    backend: LocalBackend,
) -> None:
    old = _res("vpc-1")
    journal = _journal(backend, {"Vpc": old})
    old = journal.resources["Vpc"]
    journal.record(Op.REPLACE, "Vpc", old, _res("vpc-2", 1), "Vpc")
    state = _read(backend)
    assert {k: r.physical_id for k, r in state.resources.items()} == {
        "Vpc": "vpc-2",
        "Vpc#old": "vpc-1",
    }
    intent = journal.intend({"op": "delete", "path": "Vpc#old", "type": old.type})
    journal.record_delete("Vpc#old", old, intent, journaled=True)
    state = _read(backend)
    assert {k: r.physical_id for k, r in state.resources.items()} == {"Vpc": "vpc-2"}
    assert state.pending == ()
    assert [(e.op, e.path) for e in journal.entries] == [(Op.REPLACE, "Vpc"), (Op.DELETE, "Vpc")]


def test_a_delete_by_the_rollback_is_not_added_to_the_entries_it_walks(
    backend: LocalBackend,
) -> None:
    journal = _journal(backend, {})
    created = _res("vpc-1")
    journal.record(Op.CREATE, "Vpc", None, created, "Vpc")
    intent = journal.intend({"op": "delete", "path": "Vpc", "type": created.type})
    journal.record_delete("Vpc", created, intent, journaled=False)
    assert [e.op for e in journal.entries] == [Op.CREATE]
    assert "Vpc" not in _read(backend).resources


def test_applying_what_a_create_left_out_is_not_counted_as_an_operation(
    backend: LocalBackend,
) -> None:
    journal = _journal(backend, {})
    created = _res("vpc-1")
    journal.record(Op.CREATE, "Vpc", None, created, "Vpc")
    journal.record(Op.FINISH, "Vpc", created, _res("vpc-1"), "Vpc")
    assert journal.operations() == 1


def test_operation_values_are_the_words_intents_carry_in_state() -> None:
    assert {op.value for op in Op} == {
        "create",
        "update",
        "replace",
        "delete",
        "forget",
        "finish",
    }
