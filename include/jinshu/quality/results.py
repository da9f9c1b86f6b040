"""Quality results: one per suite entry per batch, summarized and stored in ``quality_results``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.quality.samples import SAMPLE_SIZE
from jinshu.quality.suites import CRITICAL, SEVERITIES, WARNING

_SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1}


@dataclass(frozen=True)
class QualityResult:
    expectation: str  # the entry's id, e.g. "id_number.not_null"
    severity: str
    success: bool
    observed_value: str | None = None
    unexpected_count: int = 0
    unexpected_sample: list[str] = field(default_factory=list)  # masked, at most 5
    expectation_type: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    element_count: int | None = None


def critical_failures(results: Iterable[QualityResult]) -> list[QualityResult]:
    return [r for r in results if not r.success and r.severity == CRITICAL]


def summary_line(results: list[QualityResult]) -> str:
    """``12/14 passed; critical: id_number.not_null; warning: freshness``."""
    failed = sorted((r for r in results if not r.success),
                    key=lambda r: (_SEVERITY_ORDER.get(r.severity, 9), r.expectation))
    parts = [f"{len(results) - len(failed)}/{len(results)} passed"]
    for severity in SEVERITIES:
        ids = [r.expectation for r in failed if r.severity == severity]
        if ids:
            parts.append(f"{severity}: {', '.join(ids)}")
    return "; ".join(parts)


# --- storage -----------------------------------------------------------------------------

metadata = sa.MetaData()

quality_results = sa.Table(
    "quality_results", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("batch_id", sa.String(96), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("expectation", sa.String(128), nullable=False),
    sa.Column("expectation_type", sa.String(96), nullable=False, default=""),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("observed_value", sa.Text),
    sa.Column("element_count", sa.BigInteger),
    sa.Column("unexpected_count", sa.BigInteger, nullable=False, default=0),
    sa.Column("unexpected_sample", sa.Text, nullable=False, default="[]"),  # JSON, masked
    sa.Column("kwargs", sa.Text, nullable=False, default="{}"),  # JSON, for Data Docs
    sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("batch_id", "expectation", name="uq_quality_results_batch_expectation"),
    sa.Index("ix_quality_results_dataset_time", "dataset_id", "validated_at"),
    comment="One row per expectation per validated batch (grain: batch_id, expectation)",
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


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

    Reads ``jinshu.store.batches`` (``stored`` rows, ``received_at``), for the two batch checks.
    """
    from jinshu.store import batches

    current = sa.select(batches.c.received_at).where(batches.c.batch_id == batch_id).scalar_subquery()
    row = conn.execute(
        sa.select(batches.c.stored, batches.c.received_at)
        .where(batches.c.dataset_id == dataset_id, batches.c.batch_id != batch_id,
               batches.c.status == "loaded", batches.c.received_at <= sa.func.coalesce(
                   current, batches.c.received_at))
        .order_by(batches.c.received_at.desc()).limit(1)
    ).first()
    return (int(row.stored), row.received_at) if row else (None, None)
