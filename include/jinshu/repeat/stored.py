"""The record already stored: upsert on the natural key, earlier twins recorded as duplicates.

A batch's distinct records meet the dataset table here: a record whose natural
key and record hash are both stored already is a duplicate of an earlier batch
(it points at its twin by hash); a new natural key is inserted; a known natural
key with a new hash replaces the stored version. PostgreSQL and SQLite differ
only through :mod:`jinshu.store.dialect`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import Contract
from jinshu.collect.read import ROW
from jinshu.protect import policy
from jinshu.store import dialect
from jinshu.store.bulk import bulk_load, chunks, column_defaults
from jinshu.store.tables import dataset_table, duplicates


def _staging_table(contract: Contract) -> sa.Table:
    target = dataset_table(contract)
    lineage = {"_batch_id", "_acquired_at"}
    return sa.Table(
        f"stage_{contract.table}", sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in target.columns if c.name not in lineage),
        prefixes=["TEMPORARY"],
    )


def _stored_twin(contract: Contract, stage: sa.Table) -> sa.Exists:
    """The staged record is already stored: same natural key (indexed) and same hash."""
    target = dataset_table(contract)
    return sa.exists().where(*(target.c[k] == stage.c[k] for k in policy.key_columns(contract)),
                             target.c._record_hash == stage.c._record_hash)


def _upsert(conn: Connection, contract: Contract, stage: sa.Table, batch_id: str,
            acquired_at: datetime) -> int:
    """Insert staged records not stored yet; update rows whose natural key exists.

    Rows go in natural-key order, so the key's B-tree fills page by page.
    """
    target = dataset_table(contract)
    key = policy.key_columns(contract)
    source = sa.select(
        *stage.c, sa.literal(batch_id, sa.String).label("_batch_id"),
        sa.literal(acquired_at, sa.DateTime(timezone=True)).label("_acquired_at"),
    ).where(~_stored_twin(contract, stage)).order_by(*(stage.c[k] for k in key))
    statement = dialect.upsert(conn, target).from_select(
        [c.name for c in stage.c] + ["_batch_id", "_acquired_at"], source)
    updated = {c.name: statement.excluded[c.name] for c in target.columns if c.name not in key}
    statement = statement.on_conflict_do_update(index_elements=key, set_=updated)
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _record_known_twins(conn: Connection, contract: Contract, stage: sa.Table,
                        batch_id: str) -> int:
    """Staged records already stored by an earlier batch become duplicates."""
    source = sa.select(sa.literal(batch_id, sa.String), stage.c._source_row,
                       stage.c._record_hash).where(_stored_twin(contract, stage))
    statement = duplicates.insert().from_select(["batch_id", "source_row", "record_hash"], source)
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _initial_load(conn: Connection, contract: Contract, batch_id: str,
                  records: Iterable[pd.DataFrame], acquired_at: datetime) -> None:
    """First load into an empty PostgreSQL table: COPY straight in, then build the key index.

    Nothing can conflict (the rules already reject a key repeated with other
    values), and building the unique index once after the COPY costs a
    fraction of maintaining it row by row. The batch's lineage values are
    column defaults for the duration, not repeated in every row sent.
    """
    target = dataset_table(contract)
    quote = conn.dialect.identifier_preparer.quote
    constraint = quote(f"uq_{contract.table}_key")
    key = ", ".join(quote(k) for k in policy.key_columns(contract))
    conn.exec_driver_sql(f"ALTER TABLE {quote(target.name)} DROP CONSTRAINT {constraint}")
    with column_defaults(conn, target, {"_batch_id": batch_id,
                                        "_acquired_at": acquired_at.isoformat()}):
        bulk_load(conn, target, records)
    conn.exec_driver_sql(f"ALTER TABLE {quote(target.name)} ADD CONSTRAINT {constraint} UNIQUE ({key})")


class _Streamed:
    """The records in chunks, columns named as stored, counted as they are read: one frame,
    or the frames of a file's key partitions in turn (never all in memory at once)."""

    def __init__(self, records: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
        self._frames = [records] if isinstance(records, pd.DataFrame) else records
        self.rows = 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for frame in self._frames:
            for chunk in chunks(frame.rename(columns={ROW: "_source_row"})):
                self.rows += len(chunk)
                yield chunk


def store_records(conn: Connection, contract: Contract, batch_id: str,
                  records: pd.DataFrame | Iterable[pd.DataFrame],
                  acquired_at: datetime) -> tuple[int, int]:
    """(stored, duplicates of earlier batches) for the batch's distinct, protected records
    (one frame, or frames streamed one after another)."""
    target = dataset_table(contract)
    records = _Streamed(records)
    if dialect.can_copy_into_empty(conn, target):
        _initial_load(conn, contract, batch_id, records, acquired_at)
        return records.rows, 0
    stage = _staging_table(contract)
    stage.create(conn)
    try:
        bulk_load(conn, stage, records)
        known = _record_known_twins(conn, contract, stage, batch_id)
        stored = _upsert(conn, contract, stage, batch_id, acquired_at)
    finally:
        stage.drop(conn)
    return stored, known

