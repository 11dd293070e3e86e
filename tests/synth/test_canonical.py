"""Synthesized output is canonical: byte-stable across runs, hash seeds and moved code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infradsl.cli._loader import load_app
from infradsl.synth import dumps, synthesize

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/app.py"))
GOLDEN = ROOT / "tests" / "golden"


def synth_in_subprocess(app: Path, out: Path, seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run(
        [sys.executable, "-m", "infradsl", "synth", str(app), "-o", str(out)],
        check=True,
        env=env,
        capture_output=True,
        cwd=out.parent,
    )
    return b"".join(p.read_bytes() for p in sorted(out.glob("*.json")))


@pytest.mark.parametrize("app", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_examples_match_their_golden_files(
    app: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool
) -> None:
    monkeypatch.chdir(app.parent)
    documents = synthesize(load_app(str(app)))
    for name, doc in documents.items():
        golden = GOLDEN / app.parent.name / f"{name}.json"
        if update_golden:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(dumps(doc))
        assert golden.exists(), f"no golden file {golden}; run pytest --update-golden"
        assert dumps(doc) == golden.read_text(), (
            f"{app} changed its synthesized output; if intended, run pytest --update-golden"
        )


def test_synth_is_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    app = ROOT / "examples" / "webapp" / "app.py"
    outputs = {
        seed: synth_in_subprocess(app, tmp_path / f"out{seed}", seed) for seed in ("0", "1", "42")
    }
    assert len(set(outputs.values())) == 1
    assert json.loads(outputs["0"])["stack"] == "webapp"


def test_moving_unrelated_code_lines_does_not_change_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = (ROOT / "examples" / "webapp" / "app.py").read_text()
    moved = source.replace(
        '"""A two-tier', '\n\n# a comment that moves every line\n\n"""A two-tier'
    )
    assert moved != source
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(source)
    second.write_text(moved)
    assert dumps(synthesize(load_app(str(first)))["webapp"]) == dumps(
        synthesize(load_app(str(second)))["webapp"]
    )


def test_synth_writes_one_sorted_json_document_per_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(
        "from infradsl import App, Stack\nfrom infradsl.aws import s3\n"
        "app = App()\nfor name in ('zeta', 'alpha'):\n"
        "    s3.Bucket(Stack(app, name), 'Logs')\n"
    )
    from infradsl.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["synth", "app.py"])
    assert info.value.code == 0
    files = sorted(p.name for p in (tmp_path / "infradsl.out").iterdir())
    assert files == ["alpha.json", "zeta.json"]
    text = (tmp_path / "infradsl.out" / "alpha.json").read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
