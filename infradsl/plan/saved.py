"""Saved plans: a plan written to a file with what it was made from, so that it can be
applied later exactly as it was reviewed.

A saved plan records, per stack, the state it was planned against (serial and lineage),
a hash of the stack's synthesized document and the plan itself; for the whole file, the
infradsl version and the target. Applying it re-plans under the stack locks and refuses
(`SavedPlan.mismatches`) unless the code, the state and the resulting plan are all the
same as when it was saved. Pure: reading and writing the file is the caller's job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from infradsl.plan.change import Plan
from infradsl.synth.document import dumps

__all__ = [
    "FORMAT",
    "SavedPlan",
    "SavedPlanError",
    "StackBasis",
    "document_hash",
    "plan_hash",
    "plan_json",
]

FORMAT = 1
"""The version of the saved plan format (the ``infradsl_plan`` field)."""


class SavedPlanError(ValueError):
    """A file is not a saved plan this version of infradsl can read."""


def document_hash(document: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of a synthesized document's canonical JSON text.

    Example:
        >>> document_hash({"resources": {}})[:7]
        'sha256:'
    """
    return "sha256:" + hashlib.sha256(dumps(dict(document)).encode()).hexdigest()


def plan_json(plan: Plan) -> dict[str, Any]:
    """A stack's plan as compared and hashed: ``Plan.to_json()`` without its notes (what a
    run says about itself, such as a lock taken over, is not part of what it changes)."""
    data = plan.to_json()
    data.pop("notes", None)
    # As read back from a file: tuples become lists, so a saved plan compares equal.
    loaded: dict[str, Any] = json.loads(json.dumps(data, sort_keys=True, default=str))
    return loaded


def plan_hash(plans: Sequence[Mapping[str, Any]]) -> str:
    """``sha256:<hex>`` of the plans of a run (each as `plan_json` gives it), in order.

    The same for a saved plan and for the deploy that applies it, so the deployment
    history can name the plan a deploy applied.
    """
    text = json.dumps(list(plans), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen
class StackBasis:
    """What one stack's saved plan was made from, and the plan.

    Attributes:
        stack: the stack name.
        region: its region.
        serial: the serial of the stack's state when planned (``None``: no state yet).
        lineage: the lineage of that state (``None``: no state yet).
        document_hash: `document_hash` of the stack's synthesized document.
        plan: the plan (`plan_json`).
    """

    stack: str
    region: str
    serial: int | None
    lineage: str | None
    document_hash: str
    plan: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "stack": self.stack,
            "region": self.region,
            "state": None
            if self.serial is None
            else {"serial": self.serial, "lineage": self.lineage},
            "document_hash": self.document_hash,
            "plan": dict(self.plan),
        }


@attrs.frozen
class SavedPlan:
    """A plan of one or more stacks, with what it was made from.

    Attributes:
        infradsl_version: the version of infradsl that made it.
        target: ``local`` or ``aws``.
        created: when (UTC, ISO 8601).
        app: the app file as given on the command line.
        refresh: whether the live resources were read (deploying it reads them the same way).
        stacks: per stack, in deploy order.
        git: the commit, branch and dirty flag of the app's folder (informational).
    """

    infradsl_version: str
    target: str
    created: str
    app: str
    refresh: bool
    stacks: tuple[StackBasis, ...]
    git: Mapping[str, Any] = attrs.Factory(dict)

    @property
    def plan_hash(self) -> str:
        """`plan_hash` of the stacks' plans (recorded in the history by the deploy)."""
        return plan_hash([s.plan for s in self.stacks])

    def to_json(self) -> dict[str, Any]:
        """The file's content (format `FORMAT`)."""
        return {
            "infradsl_plan": FORMAT,
            "infradsl_version": self.infradsl_version,
            "target": self.target,
            "created": self.created,
            "app": self.app,
            "refresh": self.refresh,
            "git": dict(self.git),
            "plan_hash": self.plan_hash,
            "stacks": [s.to_json() for s in self.stacks],
        }

    @classmethod
    def from_json(cls, data: Any) -> SavedPlan:
        """Parse what `to_json` wrote.

        Raises:
            SavedPlanError: not a saved plan, a format this version does not read, or a
                plan whose content does not match its ``plan_hash`` (edited by hand).
        """
        if not isinstance(data, dict) or "infradsl_plan" not in data:
            raise SavedPlanError(
                "not a saved plan (no 'infradsl_plan' field): make one with "
                "`infradsl plan APP -o plan.json`"
            )
        if data["infradsl_plan"] != FORMAT:
            raise SavedPlanError(
                f"saved plan format {data['infradsl_plan']!r} is not one this version of "
                f"infradsl reads (format {FORMAT}; the plan was made by infradsl "
                f"{data.get('infradsl_version', '?')}): plan again with this version"
            )
        try:
            stacks = tuple(
                StackBasis(
                    stack=str(s["stack"]),
                    region=str(s["region"]),
                    serial=None if s["state"] is None else int(s["state"]["serial"]),
                    lineage=None if s["state"] is None else str(s["state"]["lineage"]),
                    document_hash=str(s["document_hash"]),
                    plan=dict(s["plan"]),
                )
                for s in data["stacks"]
            )
            saved = cls(
                infradsl_version=str(data["infradsl_version"]),
                target=str(data["target"]),
                created=str(data["created"]),
                app=str(data["app"]),
                refresh=bool(data["refresh"]),
                stacks=stacks,
                git=dict(data.get("git") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SavedPlanError(f"damaged saved plan: missing or invalid field {exc}") from None
        if data.get("plan_hash") != saved.plan_hash:
            raise SavedPlanError(
                "the saved plan's content does not match its plan_hash (edited after it was "
                "made?): make a new one with `infradsl plan APP -o FILE`"
            )
        return saved

    def stale_code(self, documents: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Why the code no longer gives this plan: stacks added or removed, or a stack's
        document changed. Empty when the code is the same.

        Args:
            documents: the synthesized documents of the stacks to deploy now.
        """
        problems: list[str] = []
        planned = {s.stack: s for s in self.stacks}
        for name in sorted(set(documents) - set(planned)):
            problems.append(f"stack {name!r} is not in the saved plan")
        for name in sorted(set(planned) - set(documents)):
            problems.append(f"stack {name!r} of the saved plan is not deployed by this run")
        for name in sorted(set(planned) & set(documents)):
            if document_hash(documents[name]) != planned[name].document_hash:
                problems.append(f"the code of stack {name!r} changed since the plan")
        return problems

    def stale_state(self, states: Mapping[str, tuple[int, str] | None]) -> list[str]:
        """Why the states are no longer the ones planned against: another run wrote them.

        Args:
            states: stack -> ``(serial, lineage)`` of its state now, ``None`` for none.
        """
        problems: list[str] = []
        for basis in self.stacks:
            now = states.get(basis.stack)
            then = None if basis.serial is None else (basis.serial, basis.lineage)
            if now == then:
                continue
            if then is None:
                problems.append(
                    f"stack {basis.stack!r} had no state when planned, and now has one "
                    f"(serial {now[0] if now else '?'}): another run deployed it since"
                )
            elif now is None:
                problems.append(
                    f"the state of stack {basis.stack!r} was at serial {then[0]} when "
                    "planned, and is gone now: another run destroyed it since"
                )
            elif now[1] != then[1]:
                problems.append(
                    f"the state of stack {basis.stack!r} is another one than planned against "
                    f"(lineage {now[1][:8]}, planned {str(then[1])[:8]}): it was destroyed "
                    "and deployed again since, or --state points elsewhere"
                )
            else:
                problems.append(
                    f"the state of stack {basis.stack!r} moved from serial {then[0]} "
                    f"(when planned) to {now[0]}: another run changed it since"
                )
        return problems

    def stale_plan(self, plans: Sequence[Plan]) -> list[str]:
        """Where planning again now gives another plan than the saved one (the cloud
        changed: drift, a deleted resource, a lookup that finds something else)."""
        problems: list[str] = []
        saved = {s.stack: s.plan for s in self.stacks}
        for plan in plans:
            old = saved.get(plan.stack)
            new = plan_json(plan)
            if old is None or old == new:
                continue
            before = {c["path"]: c for c in old.get("changes", [])}
            after = {c["path"]: c for c in new.get("changes", [])}
            paths = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
            described = [_describe(p, before.get(p), after.get(p)) for p in paths[:10]]
            if len(paths) > 10:
                described.append(f"and {len(paths) - 10} more")
            if not described:
                described.append("its outputs or lookups differ")
            problems.append(
                f"planning stack {plan.stack!r} again gives another plan, so the cloud "
                f"changed since: {'; '.join(described)}"
            )
        return problems


def _describe(path: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str:
    if old is None:
        return f"{path} now {new['action'] if new else '?'}s (no change in the saved plan)"
    if new is None:
        return f"{path} no longer {old['action']}s"
    if old["action"] != new["action"]:
        return f"{path}: {old['action']} in the saved plan, {new['action']} now"
    return f"{path}: its {old['action']} changes other properties now"
