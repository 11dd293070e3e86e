"""The catalog's type descriptions (``typeinfo.json``) generated from its declarations.

`infradsl.core.typeinfo` reads the data file; this module writes it. It imports the whole
catalog, so only the generator and its test use it (``pytest tests/core/test_typeinfo.py
--update-golden`` rewrites the file).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Mapping

import infradsl.aws
from infradsl.core.resource import resource_type
from infradsl.core.typeinfo import FORMAT, TypeInfo, derive_type_info

__all__ = ["catalog_type_info", "catalog_type_names", "render"]


def catalog_type_names() -> list[str]:
    """Every concrete type the catalog declares (abstract bases such as ``aws.Taggable``,
    which other declared types extend, are left out), sorted."""
    for module in pkgutil.iter_modules(infradsl.aws.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"infradsl.aws.{module.name}")
    from infradsl.core.resource import _TYPES

    classes = {name: cls for name, cls in _TYPES.items() if name.startswith("aws.")}
    bases = {
        base for cls in classes.values() for base in cls.__mro__[1:] if base in classes.values()
    }
    return sorted(name for name, cls in classes.items() if cls not in bases)


def catalog_type_info(existing: Mapping[str, TypeInfo]) -> dict[str, TypeInfo]:
    """Each catalog type described from its declaration, keeping the hand-written fields
    of ``existing`` (the data file's descriptions)."""
    return {
        name: derive_type_info(resource_type(name), existing.get(name))
        for name in catalog_type_names()
    }


def render(infos: Mapping[str, TypeInfo]) -> str:
    """The data file's text: stable bytes (sorted keys, two-space indent, final newline)."""
    document = {
        "infradsl_typeinfo": FORMAT,
        "types": {name: infos[name].to_json() for name in sorted(infos)},
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
