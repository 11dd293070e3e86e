"""Griffe extension for the docs build: read ``Example:`` as a Google ``Examples:`` section.

infradsl's docstrings use the singular ``Example:`` heading. Griffe's Google parser only
knows the plural; without this, the singular becomes an admonition whose ``>>>`` lines
render as nested block quotes (and ``[...]`` doctest output as broken links).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headings to ``Examples:`` before docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _EXAMPLE.sub(r"\g<indent>Examples:", docstring.value)
