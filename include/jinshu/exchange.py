"""The sharing exchange: shareable datasets materialized for other departments.

Grain of ``ex_<id>``: one row per stored record of a dataset whose sharing
class is unconditional or conditional. Personal and trade-secret fields are
masked, because no consumer holds a grant to the clear value yet; the
subject pseudonym stays so departments can match records without raw IDs.
Each row carries its source and acquisition date. A publish run replaces a
table's contents in one transaction, so readers see the old or the new.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu import audit, mask
from jinshu.bulk import bulk_load
from jinshu.catalog import Contract
from jinshu.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, stamp
from jinshu.store import dataset_table, metadata, publications

CHUNK_ROWS = 200_000
MASKED = frozenset({"personal", "sensitive_personal", "trade_secret"})


def exchange_table(contract: Contract) -> sa.Table:
    name = f"ex_{contract.id}"
    if name in metadata.tables:
        return metadata.tables[name]
    return sa.Table(
        name, metadata,
        *(sa.Column(f.name, sa.Text, comment=f.title) for f in contract.fields),
        sa.Column("_subject_key", sa.String(64), index=True),
        sa.Column(SOURCE_DEPARTMENT, sa.Text, nullable=False),
        sa.Column(SOURCE_DATASET, sa.String(64), nullable=False),
        sa.Column(ACQUIRED_ON, sa.String(10), nullable=False),
        comment=f"exchange: {contract.title}",
    )


def for_exchange(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Mask what no consumer may see in the clear; stamp provenance."""
    out = pd.DataFrame(index=frame.index)
    for f in contract.fields:
        values = mask.as_text(frame[f.name])
        out[f.name] = mask.apply(f.mask_kind, values) if f.sensitivity in MASKED else values
    out["_subject_key"] = frame["_subject_key"]
    return stamp(out, contract, frame["_acquired_at"])


def publish(engine: Engine, contract: Contract, now: datetime) -> int:
    """Replace ``ex_<id>`` with the current masked contents; returns rows published."""
    source, target = dataset_table(contract), exchange_table(contract)
    target.create(engine, checkfirst=True)
    rows = 0
    with engine.begin() as conn:
        conn.execute(target.delete())
        newest = conn.execute(sa.select(sa.func.max(source.c._acquired_at))).scalar()
        for chunk in pd.read_sql(sa.select(source), conn, chunksize=CHUNK_ROWS, dtype_backend="pyarrow"):
            bulk_load(conn, target, for_exchange(chunk, contract))
            rows += len(chunk)
        audit.append(conn, "publish_exchange", contract.id, {"rows": rows, "table": target.name},
                     now=now)
        conn.execute(publications.insert().values(
            channel="exchange", dataset_id=contract.id, published_at=now, acquired_at=newest,
            rows=rows, suppressed_rows=0, location=target.name))
    return rows
