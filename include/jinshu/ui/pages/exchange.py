"""共享交换 The exchange: requests waiting for a decision with their working-day deadlines,
grants in force, recent decisions. The department that owns a dataset approves or refuses
(a reason is required to refuse); a department's user sees its own department's queue."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import sqlalchemy as sa

from jinshu.share import deadlines
from jinshu.store.tables import exchange_requests
from jinshu.ui.registry import Page
from jinshu.ui.view import View

DECIDED = 50  # recent decisions shown


def _visible(view: View) -> list[Any]:
    department, r = view.viewer.department, exchange_requests.c
    return [sa.or_(r.owner == department, r.requester == department)] if department else []


def _working_days_left(due, today, holidays) -> int:
    days, day, sign = 0, today, 1 if due >= today else -1
    while day != due:
        day = day.fromordinal(day.toordinal() + sign)
        days += sign * deadlines.is_working_day(day, holidays)
    return days


def _shaped(view: View, row: sa.Row) -> dict[str, Any]:
    today = view.now.astimezone(UTC).date()
    contract = view.contracts.get(row.dataset_id)
    fields = json.loads(row.granted_fields or row.fields)
    return {**row._mapping, "title": contract.title if contract else row.dataset_id,
            "owner_name": view.department_name(row.owner),
            "requester_name": view.department_name(row.requester),
            "field_titles": [contract.by_name[f].title if contract and f in contract.by_name else f
                             for f in fields],
            "overdue": row.status == "pending" and deadlines.is_overdue(row.due_on, today),
            "days_left": _working_days_left(row.due_on, today, view.settings.holidays),
            "decides": view.viewer.decides_for(row.owner) and row.status == "pending"}


def query(view: View) -> dict[str, Any]:
    r = exchange_requests.c
    now = view.now
    with view.engine.connect() as conn:
        pending = conn.execute(sa.select(exchange_requests).where(r.status == "pending", *_visible(view))
                               .order_by(r.due_on, r.id)).all()
        grants = conn.execute(sa.select(exchange_requests).where(
            r.status == "approved", r.revoked_at.is_(None), r.expires_at > now, *_visible(view))
            .order_by(r.expires_at, r.id)).all()
        decided = conn.execute(sa.select(exchange_requests).where(
            r.status != "pending", *_visible(view)).order_by(r.decided_at.desc(), r.id.desc())
            .limit(DECIDED)).all()
    queue = [_shaped(view, row) for row in pending]
    return {"queue": queue, "grants": [_shaped(view, row) for row in grants],
            "decided": [_shaped(view, row) for row in decided],
            "overdue": sum(q["overdue"] for q in queue), "mine": sum(q["decides"] for q in queue)}


PAGE = Page(slug="exchange", zh="共享交换", en="Exchange", order=60, query=query)
