"""The CI examples in examples/ci/ cannot rot: their YAML and Groovy parse and call the one
pipeline script, and that script runs end to end against the local cloud."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infradsl.testing.plugin import LocalCloudFixture

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
SCRIPT = CI / "pipeline.sh"
KEY_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CI / name).read_text())
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def scripts(steps: Any) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps if isinstance(s, dict))


def test_the_github_workflow_plans_on_pull_requests_and_applies_the_saved_plan_on_main() -> None:
    flow = load("github-actions.yml")
    # YAML 1.1 reads the key `on` as true.
    triggers = flow.get("on", flow.get(True))
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    plan, apply = flow["jobs"]["plan"], flow["jobs"]["apply"]
    assert "pipeline.sh plan" in scripts(plan["steps"])
    assert "pipeline.sh comment" in scripts(plan["steps"])
    assert plan["permissions"]["pull-requests"] == "write"
    assert apply["needs"] == "plan"
    assert apply["environment"] == "production"
    assert "refs/heads/main" in apply["if"]
    assert "pipeline.sh apply" in scripts(apply["steps"])
    for job in (plan, apply):
        assert job["permissions"]["id-token"] == "write"
        oidc = [s for s in job["steps"] if "configure-aws-credentials" in str(s.get("uses"))]
        assert oidc and "role-to-assume" in oidc[0]["with"], "AWS credentials through OIDC"
    uploads = [s for s in plan["steps"] if "upload-artifact" in str(s.get("uses"))]
    downloads = [s for s in apply["steps"] if "download-artifact" in str(s.get("uses"))]
    assert uploads[0]["with"]["name"] == downloads[0]["with"]["name"]


def test_the_gitlab_pipeline_has_the_same_steps() -> None:
    flow = load(".gitlab-ci.yml")
    assert flow["stages"] == ["plan", "apply"]
    plan, apply = flow["plan"], flow["apply"]
    assert plan["script"] == ["examples/ci/pipeline.sh plan", "examples/ci/pipeline.sh comment"]
    assert "infradsl-plan.json" in plan["artifacts"]["paths"]
    assert apply["script"] == ["examples/ci/pipeline.sh apply"]
    assert apply["needs"] == ["plan"]
    assert apply["environment"]["name"] == "production"
    assert apply["rules"][0]["when"] == "manual"
    assert flow["default"]["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
    assert any("AWS_WEB_IDENTITY_TOKEN_FILE" in line for line in flow["default"]["before_script"])


def groovy_blocks(text: str) -> list[str]:
    """The names opening ``{`` blocks, after checking that braces balance outside strings
    and comments."""
    code = re.sub(r"//[^\n]*", "", text)
    code = re.sub(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"", "''", code)
    depth = 0
    for char in code:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "a } closes nothing"
    assert depth == 0, f"{depth} unclosed {{"
    return re.findall(r"(\w+)\s*(?:\([^)]*\))?\s*\{", code)


def test_the_jenkinsfile_is_a_declarative_pipeline_calling_the_script() -> None:
    text = (CI / "Jenkinsfile").read_text()
    blocks = groovy_blocks(text)
    assert blocks[0] == "pipeline"
    for name in ("agent", "stages", "stage", "steps", "environment", "when"):
        assert name in blocks or name == "agent", name
    stages = re.findall(r"stage\('([^']+)'\)", text)
    assert stages == ["Install", "Plan", "Comment", "Approve", "Apply"]
    for step in ("plan", "apply", "comment"):
        assert f"examples/ci/pipeline.sh {step}" in text
    assert "input message:" in text


def test_a_jenkinsfile_with_unbalanced_braces_is_caught() -> None:
    with pytest.raises(AssertionError, match="unclosed"):
        groovy_blocks("pipeline { stages { stage('x') { steps { sh 'a }' } }")


def test_no_ci_file_stores_an_access_key() -> None:
    for path in (CI / "github-actions.yml", CI / ".gitlab-ci.yml", CI / "Jenkinsfile", SCRIPT):
        text = path.read_text()
        assert not [k for k in KEY_NAMES if k in text], path.name


def test_the_script_refuses_an_unknown_step() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "deploy"], capture_output=True, text=True)
    assert done.returncode == 64
    assert "usage:" in done.stderr and "plan|comment|apply|verify" in done.stderr


APP = """
from infradsl import App, Output, Stack
from infradsl.aws import ec2

app = App()
stack = Stack(app, "ci", region="us-east-1")
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.9.0.0/16")
ec2.Subnet(stack, "A", vpc=vpc, cidr_block="10.9.1.0/24")
Output(stack, "VpcId", vpc.id)
"""


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=CI Bot", "-c", "user.email=ci@example.com", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_pipeline_script_plans_saves_applies_and_then_has_nothing_to_do(
    local_cloud: LocalCloudFixture, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "app.py").write_text(APP)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "network")
    env = {
        **os.environ,
        "CI": "true",  # as in CI: deploy refuses a dirty tree
        "INFRADSL": f"{sys.executable} -m infradsl",
        "INFRADSL_STATE": str(tmp_path / "state"),
        "INFRADSL_TARGET": "local",
        "INFRADSL_LOCK_TIMEOUT": "30s",
    }
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "CHANGE_ID", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)

    def step(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), name], cwd=repo, env=env, capture_output=True, text=True
        )

    planned = step("plan")
    assert planned.returncode == 0, planned.stderr
    assert "plan has changes: saved to infradsl-plan.json" in planned.stdout
    comment = (repo / "infradsl-plan.md").read_text()
    assert "| `ci` | us-east-1 | 2 | 0 | 0 | 0 | 1 added |" in comment
    saved = json.loads((repo / "infradsl-plan.json").read_text())
    assert saved["infradsl_plan"] == 1 and saved["stacks"][0]["state"] is None

    commented = step("comment")
    assert commented.returncode == 0
    assert "not a pull or merge request build" in commented.stdout

    applied = step("apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "ci: deploy complete (2 operations)" in applied.stdout

    # The same plan again: the state moved since, so it is refused.
    again = step("apply")
    assert again.returncode == 1
    assert "refusing the saved plan infradsl-plan.json" in again.stderr

    verified = step("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "No changes. The cloud matches the code." in verified.stdout

    history = subprocess.run(
        [sys.executable, "-m", "infradsl", "history", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(history.stdout.splitlines()[0])
    assert record["plan_hash"] == saved["plan_hash"]
    assert record["branch"] == "main" and record["author"] == "CI Bot <ci@example.com>"
    assert record["dirty"] is False and len(record["commit"]) == 40
