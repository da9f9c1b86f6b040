"""Quality results in the central store (``quality_results``), and the facts the batch checks need."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.quality.results import QualityResult
from jinshu.quality.samples import SAMPLE_SIZE
from jinshu.store.tables import batches, quality_results


def store_results(conn: Connection, batch_id: str, dataset_id: str,
                  results: Iterable[QualityResult], now: datetime) -> int:
    """Replace the batch's stored results (a retried batch is validated again)."""
    rows = [{
        "batch_id": batch_id, "dataset_id": dataset_id, "expectation": r.expectation,
        "expectation_type": r.expectation_type, "severity": r.severity, "success": bool(r.success),
        "observed_value": r.observed_value, "element_count": r.element_count,
        "unexpected_count": int(r.unexpected_count),
        "unexpected_sample": json.dumps(list(r.unexpected_sample)[:SAMPLE_SIZE], ensure_ascii=False),
        "kwargs": json.dumps(r.kwargs, ensure_ascii=False, default=str),
        "validated_at": now,
    } for r in results]
    conn.execute(quality_results.delete().where(quality_results.c.batch_id == batch_id))
    if rows:
        conn.execute(quality_results.insert(), rows)
    return len(rows)


def previous_batch(conn: Connection, dataset_id: str, batch_id: str) -> tuple[int | None, datetime | None]:
    """Row count and receipt time of the dataset's latest loaded batch before ``batch_id``.

    Reads the ledger (``stored`` rows, ``received_at``), for the two batch checks.
    """
    current = sa.select(batches.c.received_at).where(batches.c.batch_id == batch_id).scalar_subquery()
    row = conn.execute(
        sa.select(batches.c.stored, batches.c.received_at)
        .where(batches.c.dataset_id == dataset_id, batches.c.batch_id != batch_id,
               batches.c.status == "loaded", batches.c.received_at <= sa.func.coalesce(
                   current, batches.c.received_at))
        .order_by(batches.c.received_at.desc()).limit(1)
    ).first()
    return (int(row.stored), row.received_at) if row else (None, None)
