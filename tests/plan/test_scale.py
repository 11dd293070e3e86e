"""Planning stays linear at scale: long chains, many resources."""

from __future__ import annotations

from infradsl.plan.change import Action
from infradsl.plan.planner import plan_stack, topological_order
from infradsl.state.model import ResourceState, StackState


def state_of(depends_on: dict[str, list[str]]) -> StackState:
    resources = {
        path: ResourceState(
            type="aws.ec2.SecurityGroup",
            physical_id=f"sg-{index}",
            inputs={},
            properties={},
            attributes={"id": f"sg-{index}"},
            depends_on=tuple(deps),
        )
        for index, (path, deps) in enumerate(depends_on.items())
    }
    return StackState(stack="s", target="local", region="us-east-1", resources=resources)


def test_destroying_a_chain_of_thousands_deletes_dependents_first() -> None:
    chain = {f"Sg{i:05d}": [f"Sg{i - 1:05d}"] if i else [] for i in range(5000)}
    plan = plan_stack(None, state_of(chain), stack="s", region="us-east-1")
    assert [c.path for c in plan.changes] == sorted(chain, reverse=True)
    assert {c.action for c in plan.changes} == {Action.DELETE}


def test_groups_that_admit_each_other_are_deleted_in_a_stable_order() -> None:
    state = state_of({"Db": ["Web", "Vpc"], "Web": ["Db", "Vpc"], "Vpc": []})
    plans = [plan_stack(None, state, stack="s", region="us-east-1") for _ in range(2)]
    orders = [[c.path for c in p.changes] for p in plans]
    assert orders[0] == orders[1] == ["Db", "Web", "Vpc"]


def test_the_topological_order_breaks_ties_by_name_and_ignores_unknown_nodes() -> None:
    order = topological_order({"b": ["a", "x"], "a": [], "c": ["a"], "d": ["b", "c", "b"]})
    assert order == ["a", "b", "c", "d"]
