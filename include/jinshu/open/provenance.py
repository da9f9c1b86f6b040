"""Provenance stamps: every data product names its source and acquisition date.

The regulation (docs/regulation.md#provenance) asks that each data product state the
source of the government data it used and the date it was obtained.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from jinshu.catalog import Contract

SOURCE_DEPARTMENT = "source_department"
SOURCE_DATASET = "source_dataset"
ACQUIRED_ON = "acquired_on"


def stamp(frame: pd.DataFrame, contract: Contract, acquired_at: pd.Series) -> pd.DataFrame:
    """Add source department, dataset and acquisition date (from each row's batch: a few
    distinct moments, each turned into a date once)."""
    codes, moments = pd.factorize(acquired_at)
    days = pd.to_datetime(pd.Series(moments), utc=True, format="ISO8601").dt.strftime("%Y-%m-%d").to_numpy()
    return frame.assign(**{
        SOURCE_DEPARTMENT: contract.department.name,
        SOURCE_DATASET: contract.id,
        ACQUIRED_ON: days[codes] if len(days) else pd.Series([], dtype=object).to_numpy(),
    })


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; the store writes them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def describe(contract: Contract, acquired_at: datetime | None, published_at: datetime) -> dict:
    """Product-level provenance, as written into data package metadata."""
    return {
        "source_department": contract.department.name,
        "source_department_code": contract.department.code,
        "source_dataset": contract.id,
        "acquired_at": _utc(acquired_at).isoformat() if acquired_at else None,
        "published_at": published_at.isoformat(),
    }
