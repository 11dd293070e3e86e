"""Git as the record: the history names commit, branch, author, dirty flag and plan hash;
``--require-clean`` refuses a dirty tree; ``deploy --at GIT_REF`` deploys a commit."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infradsl.cli._deploy import RefusedError
from infradsl.cli._git import checkout_at, require_clean
from infradsl.cli.main import main
from infradsl.engine.session import git_info
from infradsl.testing.plugin import LocalCloudFixture

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

APP = """
from infradsl import App, Stack
from infradsl.aws import ec2

app = App()
stack = Stack(app, "net", region="us-east-1")
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
ec2.Subnet(stack, "A", vpc=vpc, cidr_block="CIDR")
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits of app.py: subnet 10.0.1.0/24, then 10.0.2.0/24."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for cidr in ("10.0.1.0/24", "10.0.2.0/24"):
        (repo / "app.py").write_text(APP.replace("CIDR", cidr))
        git(repo, "add", "app.py")
        git(repo, "commit", "-q", "-m", f"subnet {cidr}")
    return repo


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


def test_the_record_names_commit_branch_author_and_dirty(repo: Path) -> None:
    info = git_info(repo)
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["branch"] == "main"
    assert info["author"] == "Ada <ada@example.com>"
    assert info["dirty"] is False
    (repo / "notes.txt").write_text("untracked files are not code changes\n")
    assert git_info(repo)["dirty"] is False
    (repo / "app.py").write_text("# changed\n")
    assert git_info(repo)["dirty"] is True


def test_a_detached_checkout_takes_the_branch_from_the_ci(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    for name in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert git_info(repo)["branch"] is None
    monkeypatch.setenv("CI_COMMIT_REF_NAME", "release")
    assert git_info(repo)["branch"] == "release"


def test_require_clean_refuses_uncommitted_changes_and_names_them(repo: Path) -> None:
    require_clean(str(repo / "app.py"), explicit=True)
    (repo / "app.py").write_text(APP.replace("CIDR", "10.0.9.0/24"))
    with pytest.raises(RefusedError) as caught:
        require_clean(str(repo / "app.py"), explicit=True)
    assert str(caught.value) == (
        "refusing to deploy from a dirty git tree (--require-clean); nothing was changed: "
        "1 uncommitted change (M app.py). Commit them (the deploy's history records the "
        "commit), deploy a commit with --at GIT_REF, or pass --allow-dirty"
    )


def test_outside_a_repository_only_an_explicit_require_clean_refuses(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    require_clean(str(app), explicit=False)
    with pytest.raises(RefusedError, match="is not in a git repository, so there is no commit"):
        require_clean(str(app), explicit=True)


def test_deploy_refuses_a_dirty_tree_in_ci_unless_allowed(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "app.py").write_text(APP.replace("CIDR", "10.0.9.0/24"))
    app = str(repo / "app.py")
    code, _, err = run(["deploy", app, "--require-clean"], capsys)
    assert code == 1
    assert "error: refusing to deploy from a dirty git tree (--require-clean)" in err
    monkeypatch.setenv("CI", "true")
    code, _, err = run(["deploy", app, "--yes"], capsys)
    assert code == 1
    assert "dirty git tree (--require-clean, the default when CI=true)" in err
    assert "--allow-dirty" in err


def test_at_checks_out_the_commit_in_a_worktree_removed_afterwards(repo: Path) -> None:
    with checkout_at(str(repo / "app.py"), "HEAD~1") as (app, commit):
        assert "10.0.1.0/24" in Path(app).read_text()
        assert commit == git(repo, "rev-parse", "HEAD~1")
        assert not Path(app).is_relative_to(repo)
        assert len(git(repo, "worktree", "list").splitlines()) == 2
    assert not Path(app).exists()
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_at_an_unknown_ref_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["deploy", str(repo / "app.py"), "--at", "no-such-tag"], capsys)
    assert code == 1
    assert "error: --at no-such-tag: no such commit in" in err
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_deploy_at_the_previous_commit_rolls_back_through_git(
    repo: Path,
    local_cloud: LocalCloudFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    code, out, err = run(["deploy", "app.py", "--yes", "--require-clean"], capsys)
    assert code == 0, out + err

    code, out, err = run(["deploy", "app.py", "--yes", "--at", "HEAD~1"], capsys)
    assert code == 0, out + err
    assert "deploying app.py as of HEAD~1 (commit" in err
    assert 'cidr_block: "10.0.2.0/24" -> "10.0.1.0/24"' in out
    assert len(git(repo, "worktree", "list").splitlines()) == 1

    code, out, _ = run(["history", "--json"], capsys)
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["commit"] == git(repo, "rev-parse", "HEAD") and "at" not in first
    assert second["commit"] == git(repo, "rev-parse", "HEAD~1")
    assert second["at"] == "HEAD~1"
    assert second["author"] == "Ada <ada@example.com>" and second["dirty"] is False
    assert second["plan_hash"].startswith("sha256:")
    code, out, _ = run(["history"], capsys)
    assert f"{second['commit'][:10]} (--at HEAD~1)  1 replace  ok  plan " in out
    code, out, _ = run(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 2  # HEAD still has 10.0.2.0/24: the next deploy puts it back
