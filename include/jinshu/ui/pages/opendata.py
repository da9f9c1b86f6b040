"""开放数据 Open data: per open dataset its current version, the versions kept and where to
download them (read from the open-data location's ``latest.json`` pointers), and every
publication with its rows and what was suppressed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.open import site
from jinshu.open.package import version_prefix
from jinshu.store.objects import open_store
from jinshu.store.tables import publications
from jinshu.ui import tables
from jinshu.ui.registry import Page
from jinshu.ui.view import View


def versions(view: View) -> list[dict[str, Any]]:
    """One line per open dataset: its current version and kept versions (none: not yet)."""
    store = open_store(view.settings.open_data_url, view.settings.s3_endpoint_url)
    base = view.settings.open_data_public_url
    out = []
    for contract in sorted((c for c in view.contracts.values() if c.is_open),
                           key=lambda c: (not c.open.livelihood, c.id)):
        latest = site.pointer(store, contract.id)
        out.append({"id": contract.id, "title": contract.title,
                    "livelihood": contract.open.livelihood,
                    "current": latest["version"] if latest else None,
                    "published_at": latest["published_at"] if latest else None,
                    "kept": [{"version": v, "url": f"{base}/{version_prefix(contract.id, v)}"}
                             for v in (latest["versions"] if latest else [])],
                    "page": f"{base}/{contract.id}/index.html"})
    return out


def query(view: View) -> dict[str, Any]:
    p = publications.c
    with view.engine.connect() as conn:
        rows = conn.execute(sa.select(p.dataset_id, p.published_at, p.acquired_at, p.rows,
                                      p.suppressed_rows).where(p.channel == "open_data")
                            .order_by(p.published_at.desc(), p.id.desc()).limit(tables.ROWS)).all()
        count = conn.execute(sa.select(sa.func.count()).where(p.channel == "open_data")).scalar_one()
    titles = {c.id: c.title for c in view.contracts.values()}
    opened = versions(view)
    return {"publications": rows, "count": count, "titles": titles, "opened": opened,
            "catalog": f"{view.settings.open_data_public_url}/index.html"}


PAGE = Page(slug="opendata", zh="开放数据", en="Open data", order=70, query=query)
