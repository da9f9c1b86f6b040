"""Human-readable tables of what the platform did."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

BATCH_COLUMNS = ("dataset_id", "file_key", "status", "rows_in", "stored", "duplicates",
                 "quarantined", "reason")


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned table (wide East Asian characters count double)."""
    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)

    widths = [max([width(h), *(width(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def batch_table(batches: Iterable[sa.Row]) -> str:
    rows = []
    for b in batches:
        reason = (b.reason or "")[:70]
        rows.append([b.dataset_id, b.file_key.rsplit("/", 1)[-1], b.status, str(b.rows_in),
                     str(b.stored), str(b.duplicates), str(b.quarantined), reason])
    return text_table(["dataset", "file", "status", "in", "stored", "dup", "quar", "reason"], rows)
