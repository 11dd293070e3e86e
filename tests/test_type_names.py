"""Generic layers name no resource type: what they need to know about a type is in its
`~infradsl.core.typeinfo.TypeInfo` (DESIGN.md section 6, issue 10).

Code is searched (identifiers and string literals); docstrings and comments may name
types as examples.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from infradsl.aws._typedata import catalog_type_names

PACKAGE = Path(__file__).resolve().parents[1] / "infradsl"
GENERIC = ("plan", "synth", "state", "cli", "engine")
# Still naming types, to be described by TypeInfo fields instead; a file leaves this list
# once it is clean (a test below says when).
PENDING: tuple[str, ...] = ()


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def type_names_in(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each identifier or string literal of ``source`` that names a
    catalog type (``aws.ec2.Vpc``, a service prefix ``aws.iam.``, or a class name)."""
    names = catalog_type_names()
    classes = {n.rsplit(".", 1)[1] for n in names}
    services = sorted({n.split(".")[1] for n in names})
    in_text = re.compile(
        r"\baws\.(?:" + "|".join(services) + r")\b|\b(?:" + "|".join(sorted(classes)) + r")\b"
    )
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip and in_text.search(node.value):
                found.append((node.lineno, node.value))
        elif isinstance(node, ast.Name) and node.id in classes:
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in classes:
            found.append((node.lineno, node.attr))
    return sorted(found)


def _generic_files() -> list[Path]:
    return [path for layer in GENERIC for path in sorted((PACKAGE / layer).rglob("*.py"))]


def test_generic_layers_name_no_resource_type() -> None:
    wrong = []
    for path in _generic_files():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in PENDING:
            continue
        wrong += [f"{rel}:{line}: {text[:60]!r}" for line, text in type_names_in(path.read_text())]
    assert wrong == [], "describe what the code needs in TypeInfo (infradsl/core/typeinfo.py)"


def test_pending_files_still_name_types() -> None:
    clean = [rel for rel in PENDING if not type_names_in((PACKAGE / rel).read_text())]
    assert clean == [], f"remove {clean} from PENDING: they no longer name types"


def test_the_search_finds_names_in_code_and_strings_but_not_in_docstrings() -> None:
    source = '''
"""Module docs may say aws.ec2.Vpc."""
def f(t):
    """So may a function's: SecurityGroup."""
    # and comments: aws.iam.Role
    if t.startswith("aws.iam."):
        return ec2.SecurityGroup
    return f"{t} is not a Subnet"
'''
    assert type_names_in(source) == [
        (6, "aws.iam."),
        (7, "SecurityGroup"),
        (8, " is not a Subnet"),
    ]
