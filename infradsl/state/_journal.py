"""Journal records on disk: one checksummed JSON line each, appended after a document.

A journal file starts with a header naming the document it follows (the document's
``journal_id``); each later line is one `infradsl.state.delta.Delta`. A line is
``<crc32 of the JSON, 8 hex digits> <JSON>\\n``, so a record cut short by a crash (no
newline, or a checksum that does not match) is recognized and ignored. Damage followed
by good records is not a torn append but a corrupt file, and is reported.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["EMPTY", "FORMAT", "Parsed", "encode", "follows", "header", "parse"]

FORMAT = 1


def encode(record: Mapping[str, Any]) -> bytes:
    """One journal line holding ``record``."""
    body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def header(document_id: str) -> bytes:
    """The first line of a journal that follows the document with ``document_id``."""
    return encode({"infradsl_journal": FORMAT, "document": document_id})


@attrs.frozen
class Parsed:
    """What a journal file holds.

    Attributes:
        document: the ``journal_id`` of the document it follows (``None`` when even the
            header is missing or torn: the journal holds nothing).
        records: the complete records after the header, in order.
        end: the offset just after the last complete record: where the next one goes
            (0 when there is no header).
        torn: bytes after ``end`` are an incomplete record a crash left behind.
    """

    document: str | None
    records: list[dict[str, Any]]
    end: int
    torn: bool


EMPTY = Parsed(None, [], 0, False)
"""No journal."""


def follows(data: bytes, document_id: str) -> bool:
    """Whether the journal ``data`` follows the document with ``document_id`` (a journal
    that names another document was left behind by a compaction and is void)."""
    newline = data.find(b"\n")
    first = _decode(data[:newline]) if newline >= 0 else None
    return first is not None and first.get("document") == document_id


def parse(data: bytes) -> Parsed:
    """Split a journal file into records.

    Raises:
        ValueError: a damaged record is followed by good ones, or the header is not a
            journal header.
    """
    lines: list[tuple[int, dict[str, Any] | None]] = []  # (offset after, record or None)
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        if newline < 0:
            lines.append((len(data), None))
            break
        lines.append((newline + 1, _decode(data[pos:newline])))
        pos = newline + 1
    good: list[dict[str, Any]] = []
    end = 0
    for index, (after, record) in enumerate(lines):
        if record is None:
            later = [i for i, (_, r) in enumerate(lines) if i > index and r is not None]
            if later:
                raise ValueError(f"damaged record before byte {after}, followed by good ones")
            break
        good.append(record)
        end = after
    torn = end < len(data)
    if not good:
        return Parsed(None, [], 0, torn)
    first = good[0]
    if first.get("infradsl_journal") != FORMAT or not isinstance(first.get("document"), str):
        raise ValueError(f"not an infradsl journal (header {first!r})")
    return Parsed(first["document"], good[1:], end, torn)


def _decode(line: bytes) -> dict[str, Any] | None:
    """The record on one line, or ``None`` when the line is damaged or incomplete."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
