"""The run's journal: intents written ahead, entries, and the records state keeps of old
halves of replacements and of what an interrupted run left unfinished."""

from __future__ import annotations

from pathlib import Path

import pytest

from infradsl.engine.journal import Journal, Op
from infradsl.state.local import LocalBackend
from infradsl.state.model import Recovered, ResourceState, StackState, StateKey


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
    journal.record_delete(StateKey("Vpc", old=True), old, intent, journaled=True)
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
    journal.record_delete(StateKey("Vpc"), created, intent, journaled=False)
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


# A state document as the releases before typed records wrote it: an old half under
# `path#old`, and the `recovered` option on an adopted create (true) and on an
# interrupted update ("update").
_OLD_FORMAT = {
    "infradsl_state": 1,
    "stack": "demo",
    "target": "local",
    "region": "us-east-1",
    "serial": 7,
    "lineage": "0123456789abcdef0123456789abcdef",
    "local_instance": None,
    "pending": [],
    "resources": {
        "Web": {
            "type": "aws.ec2.Instance",
            "physical_id": "i-2",
            "inputs": {},
            "properties": {"image": "ami-2"},
            "attributes": {},
            "depends_on": [],
            "options": {"protect": True, "recovered": True},
            "attempt": 1,
        },
        "Web#old": {
            "type": "aws.ec2.Instance",
            "physical_id": "i-1",
            "inputs": {},
            "properties": {"image": "ami-1"},
            "attributes": {},
            "depends_on": [],
            "options": {},
            "attempt": 0,
        },
        "Sg": {
            "type": "aws.ec2.SecurityGroup",
            "physical_id": "sg-1",
            "inputs": {},
            "properties": {},
            "attributes": {},
            "depends_on": [],
            "options": {"recovered": "update"},
            "attempt": 0,
        },
    },
    "outputs": {},
}


def test_a_state_key_reads_and_writes_the_old_half_as_path_old() -> None:
    assert StateKey.parse("Net/Web#old") == StateKey("Net/Web", old=True)
    assert StateKey.parse("Net/Web") == StateKey("Net/Web")
    assert str(StateKey("Net/Web", old=True)) == "Net/Web#old"
    assert str(StateKey.parse("Net/Web")) == "Net/Web"


def test_a_state_written_before_typed_records_loads_with_its_old_halves_and_marks() -> None:
    state = StackState.from_json(_OLD_FORMAT)
    keys = {StateKey.parse(key): res.physical_id for key, res in state.resources.items()}
    assert keys[StateKey("Web", old=True)] == "i-1"
    assert keys[StateKey("Web")] == "i-2"
    assert state.resources["Web"].recovered is Recovered.CREATE
    assert state.resources["Sg"].recovered is Recovered.UPDATE
    assert state.resources["Web#old"].recovered is None


def test_the_records_are_written_back_exactly_as_read() -> None:
    assert StackState.from_json(_OLD_FORMAT).to_json() == _OLD_FORMAT


def test_marking_and_unmarking_a_resource_keeps_its_other_options() -> None:
    web = StackState.from_json(_OLD_FORMAT).resources["Web"]
    assert web.with_recovered(None).options == {"protect": True}
    assert web.with_recovered(Recovered.UPDATE).options == {"protect": True, "recovered": "update"}
    assert web.with_recovered(None).with_recovered(Recovered.CREATE).options == web.options
