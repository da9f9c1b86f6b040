"""开放数据 Open data: what was published, when, how many rows and what was suppressed, and the
versions of the open-data platform (issue 14) once its table exists."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.store.tables import publications
from jinshu.ui import tables
from jinshu.ui.registry import Page
from jinshu.ui.view import View

TABLE = "open_data_versions"  # one row per published version of a dataset (issue 14)


def query(view: View) -> dict[str, Any]:
    p = publications.c
    with view.engine.connect() as conn:
        rows = conn.execute(sa.select(p.dataset_id, p.published_at, p.acquired_at, p.rows,
                                      p.suppressed_rows).where(p.channel == "open_data")
                            .order_by(p.published_at.desc(), p.id.desc()).limit(tables.ROWS)).all()
        count = conn.execute(sa.select(sa.func.count()).where(p.channel == "open_data")).scalar_one()
    titles = {c.id: c.title for c in view.contracts.values()}
    opened = [c for c in view.contracts.values() if c.is_open]
    return {"publications": rows, "count": count, "titles": titles, "opened": opened,
            "versions": tables.newest(view, TABLE) if view.has_table(TABLE) else None}


PAGE = Page(slug="opendata", zh="开放数据", en="Open data", order=70, query=query,
            pending="开放数据平台的版本与下载统计（议题 14）落地后显示。Versions and downloads appear once "
                    "the open-data platform (issue 14) is installed.")
