"""The folder tree shows the layers (DESIGN.md section 6): a layer imports only from layers
below it, and only providers/aws, state and local import boto3, botocore or moto."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "infradsl"
# Lowest first. `check` sits on the synthesized documents; `local` on errors only.
LAYERS = [
    "errors",
    "core",
    "aws",
    "synth",
    "check",
    "state",
    "providers",
    "plan",
    "engine",
    "local",
    "testing",
    "cli",
]
CLOUD_LIBRARIES = ("boto3", "botocore", "moto", "mypy_boto3")
MAY_USE_CLOUD = ("providers/aws", "state", "local")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "infradsl" and len(parts) > 1 else None


def test_no_layer_imports_a_layer_above_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        if own not in LAYERS:
            continue
        for module in _imports(path):
            target = _layer(module)
            if target in LAYERS and LAYERS.index(target) > LAYERS.index(own):
                wrong.append(f"{rel} imports {module}")
    assert wrong == []


def test_only_providers_state_and_local_use_the_cloud_libraries() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(MAY_USE_CLOUD) or rel.startswith("testing/plugin"):
            continue
        wrong += [f"{rel} imports {m}" for m in _imports(path) if m.startswith(CLOUD_LIBRARIES)]
    assert wrong == []
