"""安全事件 Incidents: open incidents suspend a dataset wherever it leaves the store; operators
open one (with a reason) and close it once the cause is fixed. Both are audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.store.tables import incidents
from jinshu.ui.registry import Page
from jinshu.ui.view import View

CLOSED = 50  # recently closed incidents shown


def query(view: View) -> dict[str, Any]:
    i = incidents.c
    with view.engine.connect() as conn:
        open_ = conn.execute(sa.select(incidents).where(i.closed_at.is_(None)).order_by(i.id)).all()
        closed = conn.execute(sa.select(incidents).where(i.closed_at.is_not(None))
                              .order_by(i.closed_at.desc(), i.id.desc()).limit(CLOSED)).all()
    titles = {c.id: c.title for c in view.contracts.values()}
    suspended = {row.dataset_id for row in open_}
    return {"open": open_, "closed": closed, "titles": titles,
            "datasets": sorted(view.contracts.values(), key=lambda c: c.id), "suspended": suspended}


PAGE = Page(slug="incidents", zh="安全事件", en="Incidents", order=100, query=query)
