"""Shared test options: ``--update-golden`` rewrites golden files instead of comparing."""

from __future__ import annotations

import pytest


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
