"""Shared test options: ``--update-golden`` rewrites golden files instead of comparing.

The test clouds (moto) load a small image catalog: see `_small_image_catalog`.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import os
import tempfile
from pathlib import Path

import pytest


def _small_image_catalog() -> None:
    """Point moto at its own catalog of 44 public images (``amis.json``) and nothing else.

    By default moto also creates, in every region an EC2 call touches, some 1,250
    Amazon Linux and ECS-optimised images, each with a snapshot and a volume: a second
    or more of every reset of the test cloud, of which the suite makes hundreds. The
    tests look images up by owner and name pattern (``amzn2-ami-hvm-*``), which this
    catalog still answers; set by the worker before any test cloud starts.
    """
    if "MOTO_AMIS_PATH" in os.environ:
        return
    # Found without importing moto (almost a second): the fast tier never needs it.
    spec = importlib.util.find_spec("moto")
    if spec is None or spec.origin is None:  # pragma: no cover - no local cloud here
        return
    source = Path(spec.origin).parent / "ec2" / "resources" / "amis.json.gz"
    if not source.exists():  # pragma: no cover - another moto layout: keep its default
        return
    version = importlib.metadata.version("moto")
    target = Path(tempfile.gettempdir()) / f"infradsl-tests-amis-{version}.json"
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}")
        partial.write_bytes(gzip.decompress(source.read_bytes()))
        partial.replace(target)  # atomic: the other workers see all of it or none
    os.environ["MOTO_AMIS_PATH"] = str(target)


_small_image_catalog()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current output instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the same in CI: ``CI=true`` would make every deploy ``--require-clean``
    (tests that check it set it themselves)."""
    monkeypatch.delenv("CI", raising=False)


_CLOUD_FIXTURES = {"local_cloud", "local_cloud_server", "deploy_stack"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the local cloud are the slow tier: ``pytest -m "not slow"`` runs the
    rest (core, synth, check, plan, engine on the fake cloud) in seconds."""
    for item in items:
        if _CLOUD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
