"""领导驾驶舱 The leadership cockpit: platform-wide figures and how they move, for a reader who
is not an engineer (Chinese first, English beside it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from jinshu.store.dialect import day_of
from jinshu.store.tables import (
    batches,
    exchange_access,
    exchange_requests,
    incidents,
    publications,
    quality_results,
    scope_violations,
)
from jinshu.ui import charts
from jinshu.ui.pages import repeat
from jinshu.ui.registry import Page
from jinshu.ui.view import View

DAYS = 30  # the window of every chart
CONSENT = "consent"  # the consent extracts' ledger rows are not a dataset


def _per_day(conn: sa.Connection, column: sa.Column, value: Any = None, *where: Any) -> dict[str, float]:
    day = day_of(column).label("day")
    measure = sa.func.count() if value is None else sa.func.sum(value)
    rows = conn.execute(sa.select(day, measure).where(*where).group_by(day)).all()
    return {r[0]: float(r[1] or 0) for r in rows}


def _rate_per_day(conn: sa.Connection) -> dict[str, float]:
    day = day_of(quality_results.c.validated_at).label("day")
    passed = sa.func.sum(sa.case((quality_results.c.success, 1), else_=0))
    rows = conn.execute(sa.select(day, passed, sa.func.count()).group_by(day)).all()
    return {r[0]: round(100.0 * float(r[1] or 0) / r[2], 1) for r in rows if r[2]}


def _departments(conn: sa.Connection, view: View) -> list[dict[str, Any]]:
    b = batches.c
    rows = conn.execute(sa.select(b.department, sa.func.count(sa.distinct(b.dataset_id)),
                                  sa.func.coalesce(sa.func.sum(b.stored), 0))
                        .where(b.dataset_id != CONSENT).group_by(b.department)).all()
    stored = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    catalog: dict[str, int] = {}
    for c in view.contracts.values():
        catalog[c.department.code] = catalog.get(c.department.code, 0) + 1
    out = [{"code": code, "name": view.department_name(code), "datasets": n,
            "rows": stored.get(code, (0, 0))[1]} for code, n in catalog.items()]
    return sorted(out, key=lambda d: (-d["rows"], d["code"]))


def _turnaround(conn: sa.Connection) -> dict[str, Any]:
    r = exchange_requests.c
    decided = conn.execute(sa.select(r.received_at, r.decided_at, r.due_on)
                           .where(r.decided_at.is_not(None))).all()
    on_time = sum(1 for d in decided if d.decided_at.date() <= d.due_on)
    hours = [(d.decided_at - d.received_at) / timedelta(hours=1) for d in decided]
    return {"decided": len(decided), "on_time": on_time,
            "on_time_pct": round(100.0 * on_time / len(decided), 1) if decided else None,
            "mean_days": round(sum(hours) / len(hours) / 24, 1) if hours else None}


def query(view: View) -> dict[str, Any]:
    end, today = view.now.date(), view.now.date()
    not_consent = batches.c.dataset_id != CONSENT
    r = exchange_requests.c
    with view.engine.connect() as conn:
        departments = _departments(conn, view)
        totals = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(batches.c.stored), 0),
                                        sa.func.coalesce(sa.func.sum(batches.c.quarantined), 0))
                              .where(not_consent)).one()
        pending = conn.execute(sa.select(r.due_on).where(r.status == "pending")).scalars().all()
        reads = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(exchange_access.c.rows),
                                                                         0))).one()
        series = {
            "batches": _per_day(conn, batches.c.received_at, None, not_consent),
            "quarantined": _per_day(conn, batches.c.received_at, batches.c.quarantined, not_consent),
            "requests": _per_day(conn, r.received_at),
            "reads": _per_day(conn, exchange_access.c.at),
            "open_data": _per_day(conn, publications.c.published_at, None,
                                  publications.c.channel == "open_data"),
            "pass_rate": _rate_per_day(conn),
            "scope": _per_day(conn, scope_violations.c.seen_at),
        }
        figures = {
            "datasets": len(view.contracts),
            "rows_stored": int(totals[1]),
            "batches": int(totals[0]),
            "quarantined": int(totals[2]),
            "requests_pending": len(pending),
            "requests_overdue": sum(1 for due in pending if due < today),
            "exchange_reads": int(reads[0]),
            "exchange_rows": int(reads[1]),
            "open_data_versions": conn.execute(sa.select(sa.func.count()).where(
                publications.c.channel == "open_data")).scalar_one(),
            "scope_violations": conn.execute(sa.select(sa.func.count()).select_from(scope_violations))
            .scalar_one(),
            "open_incidents": conn.execute(sa.select(sa.func.count()).where(
                incidents.c.closed_at.is_(None))).scalar_one(),
        }
        rate = conn.execute(sa.select(sa.func.sum(sa.case((quality_results.c.success, 1), else_=0)),
                                      sa.func.count())).one()
        turnaround = _turnaround(conn)
    figures["pass_rate"] = round(100.0 * float(rate[0] or 0) / rate[1], 1) if rate[1] else None
    conflicts = repeat.conflicts_per_day(view)
    chart = {
        "departments": charts.hbars([(d["name"], d["rows"]) for d in departments],
                                    "各部门入库记录 records stored by department", colour="red"),
        "batches": charts.bars(charts.daily(series["batches"], end, DAYS), "每日入库批次 batches per day"),
        "quarantined": charts.bars(charts.daily(series["quarantined"], end, DAYS),
                                   "每日隔离记录 rows quarantined per day", colour="amber"),
        "requests": charts.bars(charts.daily(series["requests"], end, DAYS),
                                "每日共享申请 share requests per day", colour="purple"),
        "reads": charts.bars(charts.daily(series["reads"], end, DAYS),
                             "每日交换调用 exchange reads per day", colour="teal"),
        "open_data": charts.bars(charts.daily(series["open_data"], end, DAYS),
                                 "每日开放数据发布 open-data versions per day", colour="green"),
        "pass_rate": charts.bars(charts.daily(series["pass_rate"], end, DAYS),
                                 "每日质量合格率 quality pass rate per day", unit="%", colour="green",
                                 top=100),
        "scope": charts.bars(charts.daily(series["scope"], end, DAYS),
                             "每日超范围采集 scope violations per day", colour="red"),
        "conflicts": (charts.bars(charts.daily(conflicts, end, DAYS),
                                  "每日重复采集冲突 repeat-collection conflicts per day", colour="red")
                      if conflicts is not None else None),
    }
    return {"figures": figures, "departments": departments, "turnaround": turnaround,
            "chart": chart, "days": DAYS}


PAGE = Page(slug="cockpit", zh="领导驾驶舱", en="Leadership cockpit", order=0, query=query,
            top_level=True)
