"""Load one batch into the central store in a single transaction.

Everything a batch produced lands together or not at all: new records and
new versions of changed ones (the versions they replace closed, not
overwritten), duplicates with the hash of their current twin, quarantined
rows with their reasons, scope violations and the ledger's counts. A file
ingested in chunks is stored here whole: its key partitions streamed one
after another into the one store of its records, in the one transaction, so
a reader never sees half a file and a load stopped midway leaves nothing. A
retried load finds the batch closed and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import Contract
from jinshu.collect.conform import ScopeViolation
from jinshu.collect.read import ROW
from jinshu.govern import audit
from jinshu.repeat import ledger
from jinshu.repeat.dedup import RECORD_HASH
from jinshu.repeat.stored import store_records
from jinshu.store import dialect
from jinshu.store.bulk import bulk_load
from jinshu.store.tables import consent_gate, duplicates, quarantine, scope_violations


class BatchOutcome(Protocol):
    """What a batch's stages produced, ready to be stored (read in this order)."""

    rows_in: int
    encoding: str | None
    header_row: int | None  # the sheet row the header was found in
    scope: list[ScopeViolation]
    consent: dict[str, tuple[int, int]]  # field -> (kept, dropped)

    def partitions(self) -> Iterator[pd.DataFrame]:
        """Distinct protected records (field columns + blind indexes, ``_record_hash``,
        ``_subject_key``, ``_row``), no natural key twice, in parts."""

    def duplicates(self) -> Iterable[pd.DataFrame]:
        """``_row``, ``_record_hash``: repeats within the batch of a record in ``partitions``."""

    def rejected(self) -> Iterable[pd.DataFrame]:
        """``QUARANTINE_COLUMNS``, originals sealed where the dataset is sensitive."""


def batch_reason(counts: ledger.Counts, header_row: int | None) -> str | None:
    """What the ledger says about a batch that was read: all rows rejected, a header below
    row 1 (the rows above it were not read as records)."""
    notes = []
    if counts.quarantined == counts.rows_in:
        notes.append("no data rows in the file" if counts.rows_in == 0 else
                     "every row was rejected: see quarantine")
    if header_row and header_row > 1:
        notes.append(f"header found in row {header_row}: the {header_row - 1} row(s) above it "
                     "(a title or blank rows) were not read as records")
    return "; ".join(notes) or None


def record_scope_violations(conn: Connection, batch: sa.Row, contract: Contract,
                            scope: list[ScopeViolation]) -> None:
    """One row per undeclared column of the batch's file: its header as conform kept it and
    how many values it had (the values themselves are never kept)."""
    if scope:
        conn.execute(scope_violations.insert(), [
            {"batch_id": batch.batch_id, "column_header": v.header, "dataset_id": contract.id,
             "department": batch.department, "file_key": batch.file_key,
             "non_empty_values": v.non_empty_values, "seen_at": batch.received_at}
            for v in scope
        ])


def load_batch(conn: Connection, contract: Contract, batch_id: str, outcome: BatchOutcome,
               now: datetime) -> ledger.Counts:
    """Store a batch's outcome and close its ledger row; a closed batch is left as it is."""
    row = ledger.locked(conn, batch_id)
    if row.status != ledger.OPEN:
        return ledger.Counts(row.rows_in, row.stored, row.duplicates, row.quarantined)
    dialect.roomy_sorts(conn)
    stored = store_records(conn, contract, batch_id, outcome.partitions(), row.received_at, now)
    repeated = _append(conn, duplicates, batch_id, (
        frame.rename(columns={ROW: "source_row", RECORD_HASH: "record_hash"})
        for frame in outcome.duplicates()))
    quarantined = _append(conn, quarantine, batch_id, outcome.rejected())
    consent = outcome.consent
    if consent:
        conn.execute(consent_gate.insert(), [
            {"batch_id": batch_id, "field": name, "kept": kept, "dropped": dropped}
            for name, (kept, dropped) in consent.items()
        ])
    record_scope_violations(conn, row, contract, outcome.scope)
    counts = ledger.Counts(outcome.rows_in, stored.stored, stored.duplicates + repeated,
                           quarantined)
    every_row_rejected = counts.quarantined == counts.rows_in
    audit.append(conn, "ingest", batch_id, {"dataset": contract.id, "file": row.file_key,
                                            **counts.__dict__, "replaced": stored.replaced},
                 now=now)
    ledger.close(
        conn, batch_id, "quarantined" if every_row_rejected else "loaded", counts, now,
        reason=batch_reason(counts, outcome.header_row), encoding=outcome.encoding,
    )
    return counts


def _append(conn: Connection, table: sa.Table, batch_id: str, frames: Iterable[pd.DataFrame]) -> int:
    """Rows of ``frames`` appended to ``table`` under ``batch_id`` (COPY on PostgreSQL)."""
    count = 0

    def tagged() -> Iterator[pd.DataFrame]:
        nonlocal count
        for frame in frames:
            count += len(frame)
            yield frame.assign(batch_id=batch_id)

    bulk_load(conn, table, tagged())
    return count
