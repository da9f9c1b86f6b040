"""Reading a table the page does not know in advance (one another branch adds): its columns
and newest rows, every value as text through the leak guard's ``shown``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.protect.leakguard import shown
from jinshu.ui.view import View

ROWS = 200  # rows shown per table


def reflect(view: View, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=view.engine)


def newest(view: View, name: str, limit: int = ROWS) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[text, ...]], "count": n}``: the table's rows, newest first
    (by its first timestamp column, else its primary key), at most ``limit``."""
    table = reflect(view, name)
    stamps = [c for c in table.columns if isinstance(c.type, sa.DateTime | sa.Date)]
    order = stamps[:1] or list(table.primary_key.columns) or list(table.columns)[:1]
    with view.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        rows = conn.execute(sa.select(table).order_by(*(c.desc() for c in order)).limit(limit)).all()
    return {"columns": [c.name for c in table.columns], "count": count,
            "rows": [["" if v is None else shown(str(v), 80) for v in row] for row in rows]}


def per_day(view: View, name: str, measure: str) -> dict[str, float] | None:
    """``measure`` summed per day of the table's first timestamp column, or None when the table
    or the column is not there."""
    from jinshu.store.dialect import day_of

    if not view.has_table(name):
        return None
    table = reflect(view, name)
    stamps = [c for c in table.columns if isinstance(c.type, sa.DateTime)]
    if measure not in table.columns or not stamps:
        return None
    day = day_of(stamps[0]).label("day")
    with view.engine.connect() as conn:
        rows = conn.execute(sa.select(day, sa.func.sum(table.c[measure])).group_by(day)).all()
    return {r[0]: float(r[1] or 0) for r in rows}
