"""Finding the user's ``file:line``: the first frame outside the infradsl package."""

from __future__ import annotations

import os
import sys
from types import FrameType

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


# co_filename -> whether frames of that file are infradsl's own (or frozen importlib)
# code. Locations are taken for every construct and every reference read, so the prefix
# test runs once per file instead of once per frame.
_internal_files: dict[str, bool] = {}


def user_location(skip: int = 1, owner: object = None) -> tuple[str, int]:
    """Return ``(filename, line)`` of the innermost frame that is not infradsl's own code.

    Args:
        skip: frames to skip above the caller of this function.
        owner: an object under construction; frames of its own ``__init__`` chain (a user's
            component subclass calling ``super().__init__``) are skipped too, so the location
            is the line that created the object.
    """
    internal = _internal_files
    frame: FrameType | None = sys._getframe(skip + 1)
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        known = internal.get(filename)
        if known is None:
            known = internal[filename] = filename.startswith((_PACKAGE_DIR, "<frozen"))
        if not known and (
            owner is None or code.co_name != "__init__" or frame.f_locals.get("self") is not owner
        ):
            return filename, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


def format_location(location: tuple[str, int] | None) -> str:
    """Render a location as ``file:line``, relative to the working directory when inside it."""
    if location is None:
        return ""
    filename, line = location
    if filename.startswith("<"):
        return f"{filename}:{line}"
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        rel = filename
    if rel.startswith(".." + os.sep):
        rel = filename
    return f"{rel}:{line}"
