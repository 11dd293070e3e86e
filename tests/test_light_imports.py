"""Declaring and synthesizing stacks stays light: no boto3, botocore, rich or click."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("boto3", "botocore", "rich", "click", "moto")
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = f"""
import json, sys
import infradsl
from infradsl import App, Output, Stack
from infradsl.aws import ec2, iam, s3, secrets
from infradsl.synth import synthesize
from infradsl.testing import Capture, Match, Template
sys.path.insert(0, {str(ROOT / "examples" / "webapp")!r})
import app as example
documents = synthesize(example.app)
stack = example.app.stacks[0]
Template.from_stack(stack).resource_count_is(ec2.Instance, 2)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


def test_import_declare_synthesize_and_template_load_no_heavy_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == []


def test_the_check_fails_when_a_heavy_module_is_imported() -> None:
    script = SCRIPT.replace("import infradsl\n", "import infradsl\nimport click\n", 1)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "click" in json.loads(result.stdout.strip().splitlines()[-1])


# `infradsl synth` needs the CLI, the core and the synthesizer only: the state backends,
# the planner, the engine, rich and the cloud libraries are for the commands that use them.
CLI_SYNTH_SCRIPT = f"""
import json, sys
from infradsl.cli.main import main
try:
    main(["synth", {str(ROOT / "examples" / "webapp" / "app.py")!r}, "-o", sys.argv[1]])
except SystemExit as exc:
    assert exc.code == 0, exc.code
layers = ("infradsl.state", "infradsl.plan", "infradsl.engine", "infradsl.providers")
print(json.dumps(sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("boto3", "botocore", "moto", "rich") or m.startswith(layers)
)))
"""


def test_the_synth_command_loads_no_state_plan_engine_or_rich(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CLI_SYNTH_SCRIPT, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "out" / "webapp.json").is_file()
