"""The record already stored: a new version on the natural key, earlier twins recorded as duplicates.

A batch's distinct records meet the dataset table here, set-based in SQL:

* a record whose natural key and record hash are the *current* version's is a
  duplicate of an earlier batch (it points at its twin by hash): a re-sent,
  unchanged record is never a version;
* a new natural key is inserted, its first version;
* a known natural key with another hash closes the current version (its
  ``_valid_to`` becomes the load's time) and is inserted as the new current
  version, so the earlier value, when it held and the batch that brought it
  stay. A record that changes back to an earlier value is a new version too.

Every new version counts as stored. PostgreSQL and SQLite differ only through
:mod:`jinshu.store.dialect`; versions are :mod:`jinshu.store.versions`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import Contract
from jinshu.collect.read import ROW
from jinshu.protect import policy
from jinshu.store import dialect, versions
from jinshu.store.bulk import bulk_load, chunks, column_defaults
from jinshu.store.tables import dataset_table, duplicates

# Columns the load fills for the whole batch, not sent with each record.
BATCH_VALUES = ("_batch_id", "_acquired_at", versions.VALID_FROM, versions.VALID_TO)


@dataclass(frozen=True)
class Stored:
    """What storing a batch's distinct records did."""

    stored: int  # new versions (first versions and changes)
    duplicates: int  # records identical to their current version
    replaced: int  # current versions a change closed


def _staging_table(contract: Contract) -> sa.Table:
    target = dataset_table(contract)
    return sa.Table(
        f"stage_{contract.table}", sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in target.columns if c.name not in BATCH_VALUES),
        prefixes=["TEMPORARY"],
    )


def _stored_twin(contract: Contract, stage: sa.Table) -> sa.Exists:
    """The staged record is the current version already: same natural key (indexed), same hash."""
    stored = dataset_table(contract).alias("stored")
    return sa.exists().where(versions.current(stored),
                             *(stored.c[k] == stage.c[k] for k in policy.key_columns(contract)),
                             stored.c._record_hash == stage.c._record_hash)


def _record_known_twins(conn: Connection, contract: Contract, stage: sa.Table,
                        batch_id: str) -> int:
    """Staged records identical to their current version become duplicates."""
    source = sa.select(sa.literal(batch_id, sa.String), stage.c._source_row,
                       stage.c._record_hash).where(_stored_twin(contract, stage))
    statement = duplicates.insert().from_select(["batch_id", "source_row", "record_hash"], source)
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _close_replaced(conn: Connection, contract: Contract, stage: sa.Table, now: datetime) -> int:
    """Current versions of the records the batch changes (same natural key, another hash) end
    now: one join of the staged records with the current versions (``UPDATE ... FROM``)."""
    target = dataset_table(contract)
    statement = (target.update()
                 .where(versions.current(target),
                        *(target.c[k] == stage.c[k] for k in policy.key_columns(contract)),
                        target.c._record_hash != stage.c._record_hash)
                 .values({versions.VALID_TO: now}))
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _insert_versions(conn: Connection, contract: Contract, stage: sa.Table, batch_id: str,
                     acquired_at: datetime, now: datetime) -> int:
    """Staged records that are not their current version become it, in natural-key order (the
    key's B-tree fills page by page)."""
    target = dataset_table(contract)
    moment = sa.DateTime(timezone=True)
    source = sa.select(
        *stage.c, sa.literal(batch_id, sa.String).label("_batch_id"),
        sa.literal(acquired_at, moment).label("_acquired_at"),
        sa.literal(now, moment).label(versions.VALID_FROM),
    ).where(~_stored_twin(contract, stage)).order_by(
        *(stage.c[k] for k in policy.key_columns(contract)))
    statement = target.insert().from_select(
        [c.name for c in stage.c] + ["_batch_id", "_acquired_at", versions.VALID_FROM], source)
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _initial_load(conn: Connection, contract: Contract, batch_id: str,
                  records: Iterable[pd.DataFrame], acquired_at: datetime, now: datetime) -> None:
    """First load into an empty PostgreSQL table: COPY straight in, then build the key index.

    Nothing can conflict (the rules already reject a key repeated with other
    values, and every record is its first version), and building the unique
    index once after the COPY costs a fraction of maintaining it row by row.
    The batch's lineage values are column defaults for the duration, not
    repeated in every row sent. The history index stays: no row enters it.
    """
    target = dataset_table(contract)
    [key_index] = [i for i in target.indexes if i.name == versions.key_index_name(target.name)]
    key_index.drop(conn)
    with column_defaults(conn, target, {"_batch_id": batch_id,
                                        "_acquired_at": acquired_at.isoformat(),
                                        versions.VALID_FROM: now.isoformat()}):
        bulk_load(conn, target, records)
    key_index.create(conn)


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
                  acquired_at: datetime, now: datetime) -> Stored:
    """Store the batch's distinct, protected records (one frame, or frames streamed one after
    another) as versions valid from ``now``.

    One writer of the table at a time until the transaction ends: two loads of one
    dataset would otherwise both close the same current version.
    """
    target = dataset_table(contract)
    records = _Streamed(records)
    dialect.serialize_writers(conn, target)
    if dialect.can_copy_into_empty(conn, target):
        _initial_load(conn, contract, batch_id, records, acquired_at, now)
        return Stored(records.rows, 0, 0)
    stage = _staging_table(contract)
    stage.create(conn)
    try:
        bulk_load(conn, stage, records)
        known = _record_known_twins(conn, contract, stage, batch_id)
        replaced = _close_replaced(conn, contract, stage, now)
        stored = _insert_versions(conn, contract, stage, batch_id, acquired_at, now)
    finally:
        stage.drop(conn)
    return Stored(stored, known, replaced)
