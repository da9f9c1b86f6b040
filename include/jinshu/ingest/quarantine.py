"""Quarantine: what is set aside, and the reason a department reads for each row or file.

Every message names the file, the row and the column, the rule that failed and
the fix, and never a value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from jinshu.collect.conform import StateSecretMarking
from jinshu.collect.read import ROW, BadRecord
from jinshu.govern import audit
from jinshu.protect.keys import protector, pseudonym_key
from jinshu.quality import records as quality_records
from jinshu.repeat import ledger
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore, open_store
from jinshu.store.tables import quarantine
from jinshu.store.workspace import Workspace

ARCHIVE_PREFIX = "_quarantine/"
QUARANTINE_COLUMNS = ["source_row", "column_name", "rule", "message", "original"]


def landing_store(settings: Settings) -> ObjectStore:
    """The landing area; what the platform writes there locally is private (0600 / 0700)."""
    return open_store(settings.landing_url, settings.s3_endpoint_url, private=True)


def archive_key(batch: sa.Row) -> str:
    """Where a whole quarantined file's sealed copy is kept in the landing area."""
    return f"{ARCHIVE_PREFIX}{batch.batch_id}/{batch.file_key.rsplit('/', 1)[-1]}.sealed"


def read_archive(settings: Settings, batch: sa.Row, key: str) -> bytes:
    """The clear bytes of a quarantined file, opened with the platform's keys."""
    return protector(settings).open_file(landing_store(settings).read(key), batch.dataset_id,
                                         batch.batch_id)


def read_landed(settings: Settings, batch: sa.Row) -> bytes:
    """The bytes of a batch's file, found by its real key (the ledger shows a masked one)."""
    store = landing_store(settings)
    return store.read(ledger.object_key(store, batch, pseudonym_key(settings)))


def quarantine_message(file_key: str, row: object, column: object, detail: str, fix: str) -> str:
    where = [f"file {file_key}"]
    if row is not None and not pd.isna(row):
        where.append(f"row {int(row)}")
    if column:
        where.append(f"column {column}")
    return f"{', '.join(where)}: {detail}. Fix: {fix}"


def ragged_rejections(file_key: str, bad_records: list[BadRecord]) -> pd.DataFrame:
    """Quarantine rows for records that could not be parsed, raw text kept."""
    return pd.DataFrame([{
        "source_row": b.row, "column_name": None, "rule": b.rule,
        "message": quarantine_message(file_key, b.row, None, b.detail,
                                      "give every row as many fields as the header"),
        "original": json.dumps({"raw": b.raw}, ensure_ascii=False),
    } for b in bad_records], columns=QUARANTINE_COLUMNS)


SEALED_COPY_MAX_BYTES = 64 << 20  # sealed in memory: bigger files stay with their sender


def _keep_sealed(settings: Settings, store: ObjectStore, batch: sa.Row) -> str:
    """The sealed copy's key, or why none was kept."""
    if batch.file_size > SEALED_COPY_MAX_BYTES:
        return (f"not kept: {batch.file_size >> 20} MiB, over the {SEALED_COPY_MAX_BYTES >> 20} MiB "
                "a sealed copy may take; the department keeps the original")
    try:
        data = read_landed(settings, batch)
    except FileNotFoundError:
        return "not kept: the file was no longer in the landing area"
    archive = archive_key(batch)
    store.write(archive, protector(settings).seal_file(data, batch.dataset_id, batch.batch_id))
    return archive


def withhold_raw(ragged: pd.DataFrame) -> pd.DataFrame:
    """Ragged rows without their raw text: it may hold values of undeclared columns."""
    return ragged.assign(original=json.dumps(
        {"raw": "withheld: the file has columns outside the declared scope"}))


def quarantine_file(settings: Settings, batch: sa.Row, error: Exception, rows_in: int = 0,
                    results: list | None = None) -> None:
    """Keep the file's bytes aside, sealed, and close the batch with the reason;
    ``rows_in``: the records read from it, all counted as quarantined.

    The copy is encrypted under the active data key with the dataset and batch as
    associated data (:meth:`jinshu.protect.crypto.Protector.seal_file`); read it back
    with :func:`read_archive`. A file marked as state secret is not copied anywhere:
    only the reason is kept.
    """
    store = landing_store(settings)
    if isinstance(error, StateSecretMarking):
        archive = "not kept: state-secret marking"
    else:
        archive = _keep_sealed(settings, store, batch)
    detail, _, fix = str(error).partition(". Fix: ")
    message = quarantine_message(batch.file_key, None, None, detail, fix)
    rule = getattr(error, "rule", type(error).__name__)
    with engine_for(settings.store_url).begin() as conn:
        if ledger.locked(conn, batch.batch_id).status != ledger.OPEN:
            return  # another chunk of the file quarantined it meanwhile
        conn.execute(quarantine.insert().values(
            batch_id=batch.batch_id, source_row=None, column_name=None, rule=rule,
            message=message, original=archive))
        if results is not None:
            quality_records.store_results(conn, batch.batch_id, batch.dataset_id, results, datetime.now(UTC))
        audit.append(conn, "quarantine_file", batch.batch_id,
                     {"dataset": batch.dataset_id, "file": batch.file_key, "rows_in": rows_in,
                      "rule": rule})
        ledger.close(conn, batch.batch_id, "quarantined",
                     ledger.Counts(rows_in, 0, 0, rows_in), datetime.now(UTC), reason=message)
    Workspace.of(settings, batch.batch_id).remove()  # no clear copies left


def row_rejections(file_key: str, original: pd.DataFrame, violations: pd.DataFrame) -> pd.DataFrame:
    """One quarantine row per failing input row: its first column and rule, every reason,
    and its values as received (``original`` is indexed by ``_row``)."""
    if violations.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    messages = violations.assign(message=[
        quarantine_message(file_key, r, c, d, f) for r, c, d, f in
        violations[[ROW, "column", "detail", "fix"]].itertuples(index=False, name=None)
    ])
    per_row = messages.groupby(ROW, sort=True).agg(
        column_name=("column", "first"), rule=("rule", "first"),
        message=("message", " | ".join)).reset_index()
    per_row["original"] = [json.dumps(original.loc[r].to_dict(), ensure_ascii=False, default=str)
                           for r in per_row[ROW]]
    return per_row.rename(columns={ROW: "source_row"})[QUARANTINE_COLUMNS]
