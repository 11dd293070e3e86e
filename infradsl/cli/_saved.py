"""Saved plans on the command line: ``plan -o FILE`` writes one, ``deploy --plan FILE``
applies it exactly or refuses; and the hooks a deploy run gets from its CI options
(``--plan``, ``--lock-timeout``, ``--at``)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import click

from infradsl.cli._deploy import RefusedError
from infradsl.engine.session import Session, git_info
from infradsl.plan.change import Plan
from infradsl.plan.saved import (
    SavedPlan,
    SavedPlanError,
    StackBasis,
    document_hash,
    plan_hash,
    plan_json,
)
from infradsl.state.backend import StateLockedError
from infradsl.state.lockwait import format_duration

__all__ = [
    "RunHooks",
    "deploy_run",
    "load_plan_file",
    "lock_timeout_seconds",
    "save_plan",
    "state_basis",
]


def state_basis(session: Session, names: Sequence[str]) -> dict[str, tuple[int, str] | None]:
    """Stack -> ``(serial, lineage)`` of its state now, ``None`` when it has none."""
    basis: dict[str, tuple[int, str] | None] = {}
    for name in names:
        state = session.backend.read(name)
        basis[name] = None if state is None else (state.serial, state.lineage)
    return basis


def save_plan(
    path: str,
    *,
    app_path: str,
    target: str,
    refresh: bool,
    documents: Mapping[str, Mapping[str, Any]],
    plans: Sequence[Plan],
    before: Mapping[str, tuple[int, str] | None],
    after: Mapping[str, tuple[int, str] | None],
) -> SavedPlan:
    """Write the plans to ``path`` as a saved plan (atomically).

    Args:
        before: the states' serials and lineages read before planning.
        after: the same, read after planning: a state that moved in between (another run,
            a recovered interrupted run) makes the plan unsafe to save.

    Raises:
        RefusedError: a state moved while planning.
    """
    from infradsl import __version__

    moved = sorted(n for n in before if before[n] != after.get(n))
    if moved:
        raise RefusedError(
            f"the state of {', '.join(repr(n) for n in moved)} changed while planning "
            "(another run, or an interrupted run recovered): the plan was not saved; plan again"
        )
    stacks = tuple(
        StackBasis(
            stack=p.stack,
            region=p.region,
            serial=None if before.get(p.stack) is None else before[p.stack][0],  # type: ignore[index]
            lineage=None if before.get(p.stack) is None else before[p.stack][1],  # type: ignore[index]
            document_hash=document_hash(documents[p.stack]),
            plan=plan_json(p),
        )
        for p in plans
    )
    folder = Path(app_path).resolve()
    info = git_info(folder if folder.is_dir() else folder.parent)
    saved = SavedPlan(
        infradsl_version=__version__,
        target=target,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        app=app_path,
        refresh=refresh,
        stacks=stacks,
        git={k: v for k, v in info.items() if v is not None},
    )
    out = Path(path)
    try:
        if out.parent != Path(""):
            out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(saved.to_json(), indent=2, sort_keys=True) + "\n", "utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise RefusedError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None
    return saved


def load_plan_file(path: str, *, target: str) -> SavedPlan:
    """Read a saved plan for ``deploy --plan``.

    Raises:
        RefusedError: missing, not JSON, not a saved plan, another format, or made for
            another target.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RefusedError(
            f"--plan {path}: cannot read it ({exc.strerror or exc}); make one with "
            "`infradsl plan APP -o FILE`"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RefusedError(f"--plan {path}: not JSON ({exc})") from None
    try:
        saved = SavedPlan.from_json(data)
    except SavedPlanError as exc:
        raise RefusedError(f"--plan {path}: {exc}") from None
    if saved.target != target:
        raise RefusedError(
            f"--plan {path}: it was made for target {saved.target!r}, not {target!r}: "
            f"use --target {saved.target}, or plan for {target!r}"
        )
    return saved


def _refuse(path: str, app: str, problems: Sequence[str]) -> RefusedError:
    return RefusedError(
        f"refusing the saved plan {path}; nothing was changed: {'; '.join(problems)}. Make a "
        f"new plan (`infradsl plan {app or 'APP'} -o {path}`), review it, and deploy that"
    )


@attrs.define
class RunHooks:
    """What a deploy's CI options add to its run; `run_apply` calls `prepare` once the
    session exists and `planned` once the plans are made (under the stacks' locks).

    Attributes:
        saved: the saved plan to apply exactly (``--plan``).
        plan_file: its file name, as given.
        app_path: the app as the user named it.
        lock_timeout: seconds to wait for a lock another run holds (``--lock-timeout``).
        record: more fields for the deployment history (``at``: the ``--at`` ref).
    """

    saved: SavedPlan | None = None
    plan_file: str = ""
    app_path: str = ""
    lock_timeout: float = 0.0
    record: dict[str, Any] = attrs.Factory(dict)

    def check_code(self, documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The documents to deploy: with a saved plan, only its stacks; refused when the
        code no longer synthesizes the documents the plan was made from."""
        if self.saved is None:
            return dict(documents)
        planned = {s.stack for s in self.saved.stacks}
        chosen = {n: d for n, d in documents.items() if n in planned}
        problems = self.saved.stale_code(chosen)
        if problems:
            raise _refuse(self.plan_file, self.app_path, problems)
        return chosen

    def prepare(self, session: Session) -> None:
        """Set the session's lock wait and history fields."""
        session.lock_timeout = self.lock_timeout
        if self.app_path:
            # Commands suggested in messages name the app as the user did (not a worktree).
            session.app_path = self.app_path
        session.record_extra.update(self.record)
        if self.lock_timeout > 0:
            limit = format_duration(self.lock_timeout)

            def on_wait(exc: StateLockedError) -> None:
                click.echo(f"waiting up to {limit} for the lock: {exc}", err=True)

            session.on_lock_wait = on_wait

    def planned(self, session: Session, plans: Sequence[Plan]) -> None:
        """Record the plan hash; with a saved plan, refuse unless the states and the plans
        are still the ones it was made from.

        Raises:
            RefusedError: a state moved, or the cloud changed so the plan differs.
        """
        session.record_extra["plan_hash"] = plan_hash([plan_json(p) for p in plans])
        if self.saved is None:
            return
        names = [s.stack for s in self.saved.stacks]
        problems = self.saved.stale_state(state_basis(session, names))
        if not problems:
            problems = self.saved.stale_plan(plans)
        if problems:
            raise _refuse(self.plan_file, self.app_path, problems)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")


def lock_timeout_seconds(text: str | None) -> float:
    """Seconds of a ``--lock-timeout`` value (``30s``, ``5m``, ``1h``, ``1m30s``; a bare
    number is seconds); 0 when not given.

    Raises:
        click.BadParameter: not a duration.
    """
    if text is None:
        return 0.0
    given = text.strip().lower()
    parts = _DURATION.findall(given)
    if not given or "".join(n + u for n, u in parts) != given or any(not u for _, u in parts[:-1]):
        raise click.BadParameter(
            f"{text!r} is not a duration: give one like 30s, 5m, 1h or 1m30s",
            param_hint="'--lock-timeout'",
        )
    units = {"": 1, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in parts)


@contextmanager
def deploy_run(
    target: str,
    app_path: str,
    *,
    plan_file: str | None,
    at: str | None,
    require_clean: bool | None,
    lock_timeout: str | None,
) -> Iterator[tuple[str, RunHooks]]:
    """The app file to load and the hooks of a ``deploy`` with CI options.

    ``--at`` checks the commit out in a temporary worktree (removed when the block ends)
    and yields the app file in it; otherwise, ``--require-clean`` (the default when
    ``CI=true``; ``--allow-dirty`` turns it off) refuses a dirty tree first.

    Raises:
        RefusedError: a dirty tree, an unknown ref, an unreadable or foreign plan file.
        click.BadParameter: a ``--lock-timeout`` that is not a duration.
    """
    from infradsl.cli import _git

    hooks = RunHooks(lock_timeout=lock_timeout_seconds(lock_timeout), app_path=app_path)
    if plan_file is not None:
        hooks.saved = load_plan_file(plan_file, target=target)
        hooks.plan_file = plan_file
    if at is not None:
        with _git.checkout_at(app_path, at) as (app_in_tree, commit):
            hooks.record["at"] = at
            click.echo(f"deploying {app_path} as of {at} (commit {commit[:10]})", err=True)
            yield app_in_tree, hooks
        return
    explicit = require_clean is True
    if require_clean or (require_clean is None and _git.require_clean_default()):
        _git.require_clean(app_path, explicit=explicit)
    yield app_path, hooks
