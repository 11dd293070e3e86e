"""Copies of the webapp example whose stack is named after the run, so that the runs of
one test share the local cloud without resetting it between them.

A reset of the test cloud costs seconds (moto rebuilds every backend it ever created);
the fault and kill tests make dozens of runs each. A run finds its own resources by the
stack's ``infradsl:stack`` tag (`cloudsnap.owned`) and names them after the stack
(roles, profiles, secrets), so what other runs left in the cloud is neither counted nor
in the way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cloudsnap import webapp_project

_DECLARATION = 'WebApp(app, "webapp", '


def named_webapp_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> tuple[Path, str]:
    """Like `cloudsnap.webapp_project`, with the stack named ``webapp-<name>``.

    Returns:
        The project folder (the working directory now) and the stack name.
    """
    folder = webapp_project(tmp_path, monkeypatch, name)
    stack = f"webapp-{name}"
    app = folder / "app.py"
    text = app.read_text()
    assert text.count(_DECLARATION) == 1, "the webapp example no longer declares its stack so"
    app.write_text(text.replace(_DECLARATION, f'WebApp(app, "{stack}", '))
    return folder, stack
