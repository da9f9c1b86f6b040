"""Load one batch into the central store in a single transaction.

Everything a batch produced lands together or not at all: new and changed
records (upsert on the natural key), duplicates with the hash of their
stored twin, quarantined rows with their reasons, scope violations and the
ledger's counts. A retried load finds the batch closed and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from jinshu import audit, ledger, protect
from jinshu.bulk import bulk_load, chunks, column_defaults
from jinshu.catalog import Contract
from jinshu.conform import ScopeViolation
from jinshu.dedup import RECORD_HASH
from jinshu.read import ROW
from jinshu.store import (
    batches,
    consent_gate,
    dataset_table,
    duplicates,
    quarantine,
    scope_violations,
)

QUARANTINE_COLUMNS = ["source_row", "column_name", "rule", "message", "original"]


@dataclass
class BatchOutcome:
    """What a batch's stages produced, ready to be stored."""

    records: pd.DataFrame  # protected field columns + blind indexes, _record_hash, _subject_key, _row
    repeats: pd.DataFrame  # _row, _record_hash: in-batch duplicates of a record in ``records``
    rejected: pd.DataFrame  # QUARANTINE_COLUMNS, originals sealed where the dataset is sensitive
    scope: list[ScopeViolation]
    rows_in: int
    encoding: str | None
    consent: dict[str, tuple[int, int]] = field(default_factory=dict)  # field -> (kept, dropped)


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
    return sa.exists().where(*(target.c[k] == stage.c[k] for k in protect.key_columns(contract)),
                             target.c._record_hash == stage.c._record_hash)


def _upsert(conn: Connection, contract: Contract, stage: sa.Table, batch_id: str,
            acquired_at: datetime) -> int:
    """Insert staged records not stored yet; update rows whose natural key exists.

    Rows go in natural-key order, so the key's B-tree fills page by page.
    """
    target = dataset_table(contract)
    key = protect.key_columns(contract)
    source = sa.select(
        *stage.c, sa.literal(batch_id, sa.String).label("_batch_id"),
        sa.literal(acquired_at, sa.DateTime(timezone=True)).label("_acquired_at"),
    ).where(~_stored_twin(contract, stage)).order_by(*(stage.c[k] for k in key))
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(target)
    statement = insert.from_select([c.name for c in stage.c] + ["_batch_id", "_acquired_at"],
                                   source)
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
    key = ", ".join(quote(k) for k in protect.key_columns(contract))
    conn.exec_driver_sql(f"ALTER TABLE {quote(target.name)} DROP CONSTRAINT {constraint}")
    with column_defaults(conn, target, {"_batch_id": batch_id,
                                        "_acquired_at": acquired_at.isoformat()}):
        bulk_load(conn, target, records)
    conn.exec_driver_sql(f"ALTER TABLE {quote(target.name)} ADD CONSTRAINT {constraint} UNIQUE ({key})")


def store_records(conn: Connection, contract: Contract, batch_id: str, records: pd.DataFrame,
                  acquired_at: datetime) -> tuple[int, int]:
    """(stored, duplicates of earlier batches) for the batch's distinct, protected records."""
    target = dataset_table(contract)
    records = records.rename(columns={ROW: "_source_row"})
    if conn.dialect.name == "postgresql" and conn.execute(sa.select(target).limit(1)).first() is None:
        _initial_load(conn, contract, batch_id, chunks(records), acquired_at)
        return len(records), 0
    stage = _staging_table(contract)
    stage.create(conn)
    try:
        bulk_load(conn, stage, chunks(records))
        known = _record_known_twins(conn, contract, stage, batch_id)
        stored = _upsert(conn, contract, stage, batch_id, acquired_at)
    finally:
        stage.drop(conn)
    return stored, known


def load_batch(conn: Connection, contract: Contract, batch_id: str, outcome: BatchOutcome,
               now: datetime) -> ledger.Counts:
    """Store a batch's outcome and close its ledger row; a closed batch is left as it is."""
    row = conn.execute(
        sa.select(batches).where(batches.c.batch_id == batch_id).with_for_update()).first()
    if row is None:
        raise KeyError(f"no batch '{batch_id}' in the ledger")
    if row.status != ledger.OPEN:
        return ledger.Counts(row.rows_in, row.stored, row.duplicates, row.quarantined)
    stored, known = store_records(conn, contract, batch_id, outcome.records, row.received_at)
    repeats = outcome.repeats.rename(columns={ROW: "source_row", RECORD_HASH: "record_hash"})
    if not repeats.empty:
        conn.execute(duplicates.insert(), repeats.assign(batch_id=batch_id).to_dict("records"))
    if not outcome.rejected.empty:
        rejected = outcome.rejected.astype(object).where(outcome.rejected.notna(), None)
        conn.execute(quarantine.insert(), rejected.assign(batch_id=batch_id).to_dict("records"))
    if outcome.consent:
        conn.execute(consent_gate.insert(), [
            {"batch_id": batch_id, "field": name, "kept": kept, "dropped": dropped}
            for name, (kept, dropped) in outcome.consent.items()
        ])
    if outcome.scope:
        conn.execute(scope_violations.insert(), [
            {"batch_id": batch_id, "column_header": v.header, "dataset_id": contract.id,
             "department": contract.department.code, "file_key": row.file_key,
             "non_empty_values": v.non_empty_values, "seen_at": row.received_at}
            for v in outcome.scope
        ])
    counts = ledger.Counts(outcome.rows_in, stored, known + len(repeats), len(outcome.rejected))
    every_row_rejected = counts.quarantined == counts.rows_in
    audit.append(conn, "ingest", batch_id, {"dataset": contract.id, "file": row.file_key,
                                            **counts.__dict__}, now=now)
    ledger.close(
        conn, batch_id, "quarantined" if every_row_rejected else "loaded", counts, now,
        reason=("no data rows in the file" if counts.rows_in == 0 else
                "every row was rejected: see quarantine") if every_row_rejected else None,
        encoding=outcome.encoding,
    )
    return counts
