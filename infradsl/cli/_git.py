"""Git as the record: refuse a dirty tree (``--require-clean``) and deploy the code of a
commit (``--at GIT_REF``) from a temporary worktree."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from infradsl.cli._deploy import RefusedError

__all__ = ["app_file", "checkout_at", "dirty_files", "require_clean", "require_clean_default"]


def _git(folder: Path, *args: str) -> str:
    """Run git in ``folder``; its stdout. Raises RefusedError when git is missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise RefusedError("git is not installed (needed for --at and --require-clean)") from None
    except subprocess.TimeoutExpired:
        raise RefusedError(f"`git {' '.join(args)}` did not finish in 60 s in {folder}") from None
    if done.returncode != 0:
        raise _GitFailed(done.stderr.strip() or f"git {args[0]} exited {done.returncode}")
    return done.stdout


class _GitFailed(Exception):
    pass


def app_file(app_path: str) -> Path:
    """The app's Python file, resolved (a directory means its ``app.py``)."""
    path = Path(app_path)
    return (path / "app.py" if path.is_dir() else path).resolve()


def _toplevel(folder: Path) -> Path | None:
    try:
        return Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    except _GitFailed:
        return None


def dirty_files(folder: Path) -> list[str] | None:
    """The changes of tracked files in the repository holding ``folder`` (staged or not),
    as ``git status --porcelain`` lines; ``None`` when it is not in a git repository.

    Untracked files do not count: plan files, virtualenvs and state folders are written
    into CI checkouts, and are not code that was committed or not.
    """
    if _toplevel(folder) is None:
        return None
    out = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return [line for line in out.splitlines() if line.strip()]


def require_clean_default() -> bool:
    """``--require-clean`` is the default in CI (``CI=true``, set by GitHub Actions,
    GitLab CI and most others)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_clean(app_path: str, *, explicit: bool) -> None:
    """Refuse to deploy the app from a git tree with uncommitted changes.

    Args:
        app_path: the app as given.
        explicit: ``--require-clean`` was given (not only implied by ``CI=true``): then
            an app outside any git repository is refused too.

    Raises:
        RefusedError: the tree is dirty (the message lists the changes), or, when
            explicit, the app is not in a git repository.
    """
    folder = app_file(app_path).parent
    changes = dirty_files(folder)
    if changes is None:
        if explicit:
            raise RefusedError(
                f"--require-clean: {app_path} is not in a git repository, so there is no "
                "commit to record; deploy from a git checkout, or drop --require-clean"
            )
        return
    if not changes:
        return
    shown = ", ".join(line.strip() for line in changes[:10])
    more = f" and {len(changes) - 10} more" if len(changes) > 10 else ""
    why = "--require-clean" if explicit else "--require-clean, the default when CI=true"
    raise RefusedError(
        f"refusing to deploy from a dirty git tree ({why}); nothing was changed: "
        f"{len(changes)} uncommitted change{'s' if len(changes) != 1 else ''} ({shown}{more}). "
        "Commit them (the deploy's history records the commit), deploy a commit with "
        "--at GIT_REF, or pass --allow-dirty"
    )


@contextmanager
def checkout_at(app_path: str, ref: str) -> Iterator[tuple[str, str]]:
    """Check out ``ref`` of the app's repository in a temporary ``git worktree``.

    Yields:
        ``(app, commit)``: the path of the app file inside the worktree and the commit
        ``ref`` names. The worktree is removed afterwards, whatever happens.

    Raises:
        RefusedError: not a git repository, an unknown ref, or no app file at that commit.
    """
    file = app_file(app_path)
    top = _toplevel(file.parent) if file.parent.is_dir() else None
    if top is None:
        raise RefusedError(
            f"--at {ref}: {app_path} is not in a git repository; --at deploys a commit of "
            "the repository that holds the app"
        )
    try:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except _GitFailed:
        commit = ""
    if not commit:
        raise RefusedError(
            f"--at {ref}: no such commit in {top} (a commit, branch or tag, like HEAD~1, "
            "main or v1.2; fetch it first in a shallow CI clone)"
        )
    relative = file.relative_to(top.resolve())
    holder = Path(tempfile.mkdtemp(prefix="infradsl-at-"))
    tree = holder / "tree"
    try:
        try:
            _git(top, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        except _GitFailed as exc:
            raise RefusedError(f"--at {ref}: git could not check it out: {exc}") from None
        app = tree / relative
        if not app.is_file():
            raise RefusedError(
                f"--at {ref}: {relative} does not exist at commit {commit[:10]}; nothing "
                "was changed"
            )
        yield str(app), commit
    finally:
        with suppress(_GitFailed, RefusedError):
            _git(top, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(holder, ignore_errors=True)
        with suppress(_GitFailed, RefusedError):
            _git(top, "worktree", "prune")
