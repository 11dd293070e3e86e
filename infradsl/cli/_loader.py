"""Loading a user's app module and finding the App it defines (no boilerplate needed)."""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from infradsl.core import app as app_module
from infradsl.core.app import App
from infradsl.core.stack import Stack
from infradsl.errors import InfraDslError, LoadError

__all__ = ["load_app"]

_counter = itertools.count()


def load_app(path: str) -> App:
    """Import the Python file at ``path`` and return the `App` it builds.

    A directory means its ``app.py``. The app is the `App` created while the module ran
    (or the root of the stacks it defines).

    Raises:
        LoadError: the file is missing, fails to import, or defines no app or several.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "app.py"
    if not file.is_file():
        raise LoadError(
            f"app file {str(file)!r} not found: pass the Python file that defines your stacks, "
            "e.g. `infradsl synth app.py`"
        )
    file = file.resolve()
    name = f"__infradsl_app_{next(_counter)}__"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise LoadError(f"{file}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    created: list[App] = []
    app_module._tracking.append(created)
    sys.path.insert(0, str(file.parent))
    sys.modules[name] = module
    # The app's own modules (its folder's ``*.py`` and packages) are imported from that
    # folder, fresh: a module of the same name cached by an earlier load (another app
    # folder, a test that imported it) would declare its resources relative to the wrong
    # folder. What was cached under those names is put back afterwards.
    shadowed = _take_local_modules(file.parent)
    try:
        spec.loader.exec_module(module)
    except InfraDslError:
        raise
    except SyntaxError as exc:
        where = f"{_rel(exc.filename or str(file))}:{exc.lineno}"
        raise LoadError(f"{where}: syntax error: {exc.msg}") from exc
    except SystemExit as exc:
        raise LoadError(
            f"{_rel(str(file))}: the app called exit({exc.code}) while loading"
        ) from exc
    except Exception as exc:
        raise LoadError(f"{_user_frame(exc, file)}: {type(exc).__name__}: {exc}") from exc
    finally:
        app_module._tracking.remove(created)
        sys.path.remove(str(file.parent))
        _take_local_modules(file.parent)
        sys.modules.update(shadowed)
    return _pick_app(created, vars(module), file)


def _take_local_modules(folder: Path) -> dict[str, Any]:
    """Remove from ``sys.modules`` the top-level modules that ``folder`` provides (and
    their submodules); return what was removed."""
    local = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }
    # Never the standard library's or infradsl's own (a user's json.py is shadowed by the
    # cached stdlib module, as in any Python program).
    local -= set(sys.stdlib_module_names) | {"infradsl"}
    taken: dict[str, Any] = {}
    for cached in list(sys.modules):
        if cached.split(".", 1)[0] in local:
            taken[cached] = sys.modules.pop(cached)
    return taken


def _pick_app(created: list[App], namespace: dict[str, Any], file: Path) -> App:
    apps: list[App] = []
    for app in created:
        if app not in apps:
            apps.append(app)
    if not apps:
        for value in namespace.values():
            root = value.node.root if isinstance(value, Stack) else None
            if isinstance(value, App) or isinstance(root, App):
                candidate = value if isinstance(value, App) else root
                if candidate not in apps:
                    apps.append(candidate)  # type: ignore[arg-type]
    apps = [a for a in apps if a.stacks] or apps
    if len(apps) > 1:
        # Several apps were built (helpers, tests): the one bound at module level wins.
        bound = [a for a in apps if any(value is a for value in namespace.values())]
        if len(bound) == 1:
            apps = bound
    if not apps:
        raise LoadError(
            f"{_rel(str(file))} defines no App: create one with `app = App()` and add stacks "
            "to it, e.g. `MyStack(app, 'prod')`"
        )
    if len(apps) > 1:
        names = ", ".join(str([s.name for s in a.stacks]) for a in apps)
        raise LoadError(
            f"{_rel(str(file))} defines {len(apps)} apps with stacks ({names}); "
            "put all stacks in one App"
        )
    return apps[0]


def _user_frame(exc: BaseException, file: Path) -> str:
    """The innermost traceback frame in user code (not infradsl, not the stdlib)."""
    package = str(Path(__file__).resolve().parents[1])
    where = _rel(str(file))
    for frame, line in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if filename.startswith(package) or filename.startswith("<frozen"):
            continue
        if filename.startswith(sys.prefix) or filename.startswith(sys.base_prefix):
            continue
        where = f"{_rel(filename)}:{line}"
    return where


def _rel(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel
