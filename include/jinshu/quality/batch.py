"""The two batch-level checks, run in plain Python beside GX: row count change and freshness.

Both compare the batch with the dataset's previous loaded batch
(:func:`jinshu.quality.previous_batch`); without one, they pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jinshu.quality.results import QualityResult
from jinshu.quality.suites import ROW_COUNT_CHANGE


def aware(moment: datetime) -> datetime:
    """``moment`` with UTC assumed when it carries no time zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def batch_check(entry: dict[str, Any], rows: int, previous_rows: int | None,
                previous_batch_at: datetime | None, now: datetime) -> QualityResult:
    kwargs = entry["kwargs"]
    common = {"expectation": entry["id"], "severity": entry["severity"],
              "expectation_type": entry["type"], "kwargs": kwargs, "element_count": rows}
    if entry["type"] == ROW_COUNT_CHANGE:
        if not previous_rows:
            return QualityResult(success=True, observed_value=f"{rows} rows (no previous batch)",
                                 **common)
        ratio = rows / previous_rows
        ok = kwargs.get("min_ratio", 0.5) <= ratio <= kwargs.get("max_ratio", 1.5)
        return QualityResult(success=ok, observed_value=(
            f"{rows} rows vs {previous_rows} in the previous batch ({ratio:.0%})"), **common)
    if previous_batch_at is None:
        return QualityResult(success=True, observed_value="no previous batch", **common)
    age = aware(now) - aware(previous_batch_at)
    limit = timedelta(hours=kwargs.get("max_age_hours", 36))
    days = age / timedelta(days=1)
    cycle = kwargs.get("update_cycle")
    allowed = f"{limit / timedelta(days=1):g} days" + (f", {cycle}" if cycle else "")
    return QualityResult(success=age <= limit, observed_value=(
        f"previous batch {days:.1f} days earlier (allowed {allowed})"), **common)
