"""开发利用授权 Authorized development: developer authorizations (organization, datasets,
purpose, written agreement, filing 备案, expiry; issue 14) and the developer credentials the
exchange has issued."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.store.tables import principals
from jinshu.ui import tables
from jinshu.ui.registry import Page
from jinshu.ui.view import View

TABLE = "developer_authorizations"  # one row per authorization (jinshu.share.development)


def query(view: View) -> dict[str, Any]:
    p = principals.c
    with view.engine.connect() as conn:
        developers = conn.execute(sa.select(p.id, p.name, p.department, p.created_at, p.expires_at,
                                            p.revoked_at).where(p.kind == "developer")
                                  .order_by(p.created_at.desc())).all()
    return {"developers": developers,
            "authorizations": tables.newest(view, TABLE)}


PAGE = Page(slug="development", zh="开发利用授权", en="Development authorizations", order=80,
            query=query,
            pending="用 jinshu developers add 登记授权、协议与备案。Register authorizations, agreements and "
                    "filings with jinshu developers add.")
