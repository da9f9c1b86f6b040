"""The facts the reports show, read from the store.

Everything here reads the ``quality_results`` table (:mod:`jinshu.quality`),
the batch ledger and the scope violations; nothing reads the data itself, so
the reports only ever show masked samples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.govern.report import query
from jinshu.quality import CRITICAL, UPDATE_CYCLES
from jinshu.store.tables import quality_results

SCORECARD_SQL = "quality_scorecard.sql"
LAST_LOADED_SQL = "last_loaded.sql"
SCOPE_SQL = "scope_violations.sql"


def _when(value: Any) -> datetime | None:
    """A timestamp from either driver (SQLite hands back text), as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def has_table(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def pass_rates(conn: Connection, contracts: Mapping[str, Contract]) -> list[dict[str, Any]]:
    """Rows of ``sql/reports/quality_scorecard.sql``: one per validated batch, oldest first."""
    rows = []
    for row in query(conn, SCORECARD_SQL):
        contract = contracts.get(row["dataset_id"])
        if not row["department"] and contract:
            row["department"] = contract.department.code
        row["validated_at"] = _when(row["validated_at"])
        row["received_at"] = _when(row["received_at"])
        for key in ("expectations", "passed", "critical_failed", "warning_failed"):
            row[key] = int(row[key] or 0)
        row["pass_rate"] = float(row["pass_rate"] or 0)
        rows.append(row)
    return rows


def batch_results(conn: Connection, batch_ids: list[str]) -> list[dict[str, Any]]:
    if not batch_ids:
        return []
    q = quality_results.c
    rows = conn.execute(sa.select(quality_results).where(q.batch_id.in_(batch_ids))
                        .order_by(q.dataset_id, q.id)).mappings()
    out = []
    for row in rows:
        row = dict(row)
        row["unexpected_sample"] = json.loads(row["unexpected_sample"] or "[]")
        row["kwargs"] = json.loads(row["kwargs"] or "{}")
        row["validated_at"] = _when(row["validated_at"])
        row["success"] = bool(row["success"])
        out.append(row)
    return out


def _last_loaded(conn: Connection) -> dict[str, datetime]:
    """``sql/reports/last_loaded.sql``: dataset -> when its last loaded batch arrived."""
    if not has_table(conn, "batches"):
        return {}
    return {r["dataset_id"]: _when(r["last_received"]) for r in query(conn, LAST_LOADED_SQL)}


def _scope(conn: Connection) -> list[dict[str, Any]]:
    """``sql/reports/scope_violations.sql``: one row per department, dataset and undeclared column."""
    if not has_table(conn, "scope_violations"):
        return []
    keys = ("department", "dataset_id", "column_header", "batches")
    return [{**{k: r[k] for k in keys}, "non_empty_values": int(r["non_empty_values"] or 0),
             "last_seen": _when(r["last_seen"])} for r in query(conn, SCOPE_SQL)]


def collect(engine: Engine, contracts: Mapping[str, Contract],
            now: datetime | None = None) -> dict[str, Any]:
    """Everything the reports show, as plain Python (timestamps as aware datetimes)."""
    now = _when(now) or datetime.now(UTC)
    with engine.connect() as conn:
        rates = pass_rates(conn, contracts) if has_table(conn, "quality_results") else []
        latest: dict[str, dict[str, Any]] = {}
        for row in rates:  # oldest first: the last one per dataset wins
            latest[row["dataset_id"]] = row
        results = batch_results(conn, [r["batch_id"] for r in latest.values()])
        last_loaded = _last_loaded(conn)
        scope = _scope(conn)
    by_batch: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_batch.setdefault(r["batch_id"], []).append(r)
    datasets = []
    for dataset_id in sorted(set(contracts) | set(latest)):
        contract = contracts.get(dataset_id)
        history = [r for r in rates if r["dataset_id"] == dataset_id]
        last = latest.get(dataset_id)
        failed = [r for r in by_batch.get(last["batch_id"], []) if not r["success"]] if last else []
        received = last_loaded.get(dataset_id)
        cycle = contract.update_cycle if contract else None
        allowed = UPDATE_CYCLES.get(cycle) if cycle else None
        late = bool(allowed and (received is None or now - received > allowed))
        datasets.append({
            "dataset_id": dataset_id,
            "title": contract.title if contract else dataset_id,
            "department": contract.department.code if contract else (last or {}).get("department", ""),
            "department_name": contract.department.name if contract else "",
            "update_cycle": cycle,
            "history": history,
            "latest": last,
            "failed": failed,
            "last_received": received,
            "late": late,
            "late_by": (now - received - allowed) if late and received and allowed else None,
        })
    open_critical = [
        {**f, "title": d["title"], "department": d["department"]}
        for d in datasets for f in d["failed"] if f["severity"] == CRITICAL
    ]
    return {"now": now, "datasets": datasets, "open_critical": open_critical, "scope": scope,
            "contracts": contracts}
