"""入库台账 The ingest ledger: one line per dropped file with its counts, and per batch the
reasons its rows were set aside (row, column, rule, fix), never a value: the sealed
originals are not read. A department's user sees its own department's batches."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.govern.report import _without_file, quarantine_reasons
from jinshu.store.tables import batches
from jinshu.ui.registry import Page
from jinshu.ui.view import View

ROWS = 500  # newest batches listed


class NotFound(LookupError):
    """No such batch for this viewer."""


def _visible(view: View) -> list[Any]:
    department = view.viewer.department
    return [batches.c.department == department] if department else []


def _shaped(row: sa.Row) -> dict[str, Any]:
    return {**row._mapping, "file": row.file_key.rsplit("/", 1)[-1],
            "reason_text": _without_file(row.reason or "")}


def query(view: View) -> dict[str, Any]:
    b = batches.c
    with view.engine.connect() as conn:
        rows = conn.execute(sa.select(batches).where(*_visible(view))
                            .order_by(b.received_at.desc(), b.batch_id).limit(ROWS)).all()
        count = conn.execute(sa.select(sa.func.count()).select_from(batches).where(*_visible(view))
                             ).scalar_one()
    return {"batches": [_shaped(row) for row in rows], "count": count}


def detail(view: View, batch_id: str) -> dict[str, Any]:
    with view.engine.connect() as conn:
        row = conn.execute(sa.select(batches).where(batches.c.batch_id == batch_id, *_visible(view))).first()
        if row is None:
            raise NotFound(batch_id)
        reasons = quarantine_reasons(conn, batch_id)
    return {"batch": _shaped(row), "reasons": reasons}


PAGE = Page(slug="ledger", zh="入库台账", en="Ingest ledger", order=20, query=query, detail=detail)
