"""The ingest stages of one dataset, as the DAG's tasks call them.

Each stage takes a batch id, reads the previous stage's file from the
batch's work folder, writes its own, and returns the batch id: tasks pass
keys, not data. Stages are idempotent; only ``load`` writes to the central
store, in one transaction. A file that cannot be read at all is quarantined
whole (its bytes kept under ``_quarantine/`` in the landing area).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from pyarrow import feather

from jinshu import audit, consent, ledger, protect, quality
from jinshu.catalog import Contract
from jinshu.conform import (
    AmbiguousColumns,
    MissingColumns,
    ScopeViolation,
    StateSecretMarking,
    conform,
)
from jinshu.dedup import RECORD_HASH, Pseudonymizer, record_hashes, split_batch_duplicates
from jinshu.keys import pseudonym_key
from jinshu.load import QUARANTINE_COLUMNS, BatchOutcome, load_batch
from jinshu.objectstore import ObjectStore, open_store
from jinshu.read import ROW, BadRecord, UnreadableFile, read_extract
from jinshu.rules import check_rows
from jinshu.settings import Settings
from jinshu.store import engine_for, ensure_schema, quarantine


class BatchClosed(Exception):
    """The batch was settled by an earlier stage (whole file quarantined)."""


class QualityFailed(Exception):
    """Critical expectations failed: the whole batch is quarantined, nothing loaded."""


def _now() -> datetime:
    return datetime.now(UTC)


def _save(frame: pd.DataFrame, path: Path) -> None:
    """Stage files are uncompressed Arrow IPC, read back at memory speed.

    Column names go in the metadata: a sender's headers may repeat.
    """
    names = [str(c) for c in frame.columns]
    positional = frame.reset_index(drop=True).set_axis([f"c{i}" for i in range(len(names))], axis=1)
    table = pa.Table.from_pandas(positional, preserve_index=False)
    table = table.replace_schema_metadata({"names": json.dumps(names, ensure_ascii=False)})
    feather.write_feather(table, path, compression="uncompressed")


def _load(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    table = feather.read_table(path)
    frame = table.to_pandas()
    frame.columns = json.loads(table.schema.metadata[b"names"])
    return frame[columns] if columns else frame


def _work(settings: Settings, batch_id: str) -> Path:
    """The batch's stage folder: clear values, so readable by the platform's user only."""
    path = settings.work_dir / batch_id
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (settings.work_dir, path):  # one made earlier, or by someone else, too
        folder.chmod(0o700)
    return path


def landing_store(settings: Settings) -> ObjectStore:
    return open_store(settings.landing_url, settings.s3_endpoint_url)


def quarantine_message(file_key: str, row: object, column: object, detail: str, fix: str) -> str:
    where = [f"file {file_key}"]
    if row is not None and not pd.isna(row):
        where.append(f"row {int(row)}")
    if column:
        where.append(f"column {column}")
    return f"{', '.join(where)}: {detail}. Fix: {fix}"


def discover(settings: Settings, contract: Contract, contracts: dict[str, Contract]) -> list[str]:
    """Record new drops in the ledger; return every batch still waiting for ingest."""
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    store = landing_store(settings)
    with engine.begin() as conn:
        for obj in store.list(contract.landing_prefix):
            name = obj.key.rsplit("/", 1)[-1]
            if name.startswith((".", "_")) or ledger.seen(conn, contract.id, obj):
                continue  # hidden, archived, or already recorded: no need to read it again
            checksum = hashlib.sha256(store.read(obj.key)).hexdigest()
            ledger.record_drop(conn, contract, obj, checksum, _now())
        return ledger.pending(conn, contract.id)


def ragged_rejections(file_key: str, bad_records: list[BadRecord]) -> pd.DataFrame:
    """Quarantine rows for records that could not be parsed, raw text kept."""
    return pd.DataFrame([{
        "source_row": b.row, "column_name": None, "rule": b.rule,
        "message": quarantine_message(file_key, b.row, None, b.detail,
                                      "give every row as many fields as the header"),
        "original": json.dumps({"raw": b.raw}, ensure_ascii=False),
    } for b in bad_records], columns=QUARANTINE_COLUMNS)


def quarantine_file(settings: Settings, batch: sa.Row, error: Exception, rows_in: int = 0,
                    results: list | None = None) -> None:
    """Keep the file's bytes aside and close the batch with the reason.

    A file marked as state secret is not copied anywhere: only the reason is kept.
    """
    store = landing_store(settings)
    if isinstance(error, StateSecretMarking):
        archive = "not kept: state-secret marking"
    else:
        archive = f"_quarantine/{batch.batch_id}/{batch.file_key.rsplit('/', 1)[-1]}"
        store.write(archive, store.read(batch.file_key))
    detail, _, fix = str(error).partition(". Fix: ")
    message = quarantine_message(batch.file_key, None, None, detail, fix)
    rule = getattr(error, "rule", type(error).__name__)
    with engine_for(settings.store_url).begin() as conn:
        conn.execute(quarantine.insert().values(
            batch_id=batch.batch_id, source_row=None, column_name=None, rule=rule,
            message=message, original=archive))
        if results is not None:
            quality.store_results(conn, batch.batch_id, batch.dataset_id, results, _now())
        audit.append(conn, "quarantine_file", batch.batch_id,
                     {"dataset": batch.dataset_id, "file": batch.file_key, "rows_in": rows_in,
                      "rule": rule})
        ledger.close(conn, batch.batch_id, "quarantined",
                     ledger.Counts(rows_in, 0, 0, rows_in), _now(), reason=message)
    shutil.rmtree(settings.work_dir / batch.batch_id, ignore_errors=True)  # no clear copies left


def _open_batch(settings: Settings, batch_id: str) -> sa.Row:
    with engine_for(settings.store_url).connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status != ledger.OPEN:
        raise BatchClosed(f"batch {batch_id} is {batch.status}: {batch.reason}")
    return batch


def read(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 1: decode and parse the file; ragged rows are set aside with their raw text."""
    batch = _open_batch(settings, batch_id)
    work = _work(settings, batch_id)
    try:
        extract = read_extract(batch.file_key, landing_store(settings).read(batch.file_key))
    except UnreadableFile as error:
        quarantine_file(settings, batch, error)
        raise BatchClosed(str(error)) from error
    _save(extract.frame, work / "read.arrow")
    bad = ragged_rejections(batch.file_key, extract.bad_records)
    _save(bad, work / "rejected_read.arrow")
    (work / "read.json").write_text(json.dumps({"encoding": extract.encoding,
                                                "rows_in": extract.rows_in}))
    return batch_id


def conform_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 2: headers to fields, values cleaned; undeclared columns dropped and counted."""
    batch = _open_batch(settings, batch_id)
    work = _work(settings, batch_id)
    frame = _load(work / "read.arrow")
    try:
        conformed, scope = conform(frame, contract)
    except (MissingColumns, AmbiguousColumns, StateSecretMarking) as error:
        quarantine_file(settings, batch, error)
        raise BatchClosed(str(error)) from error
    _save(conformed, work / "conformed.arrow")
    original = frame[[c for c in frame.columns if c not in {v.header for v in scope}]]
    _save(original, work / "original.arrow")
    (work / "scope.json").write_text(json.dumps([v.__dict__ for v in scope], ensure_ascii=False))
    if scope:  # a ragged row's raw text may hold undeclared values: those are never kept
        ragged = _load(work / "rejected_read.arrow")
        ragged["original"] = json.dumps({"raw": "withheld: the file has columns outside the "
                                                "declared scope"})
        _save(ragged, work / "rejected_read.arrow")
    return batch_id


def consent_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 3: consent-based fields kept only where the subject consented; records all stay."""
    batch = _open_batch(settings, batch_id)
    work = _work(settings, batch_id)
    counts: dict[str, tuple[int, int]] = {}
    if consent.consent_fields(contract):
        frame = _load(work / "conformed.arrow")
        with engine_for(settings.store_url).connect() as conn:
            gated, counts = consent.apply_gate(conn, frame, contract,
                                               Pseudonymizer(pseudonym_key(settings)),
                                               batch.received_at.date())
        _save(gated, work / "gated.arrow")
    (work / "consent.json").write_text(json.dumps(counts))
    return batch_id


def _gated(work: Path) -> Path:
    gated = work / "gated.arrow"
    return gated if gated.exists() else work / "conformed.arrow"


def check_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 4: row rules; failing rows are quarantined with every reason found."""
    batch = _open_batch(settings, batch_id)
    work = _work(settings, batch_id)
    checked = check_rows(_load(_gated(work)), contract)
    _save(checked.valid, work / "checked.arrow")
    violations = checked.violations
    original = _load(work / "original.arrow").set_index(ROW)
    messages = violations.assign(message=[
        quarantine_message(batch.file_key, r, c, d, f) for r, c, d, f in
        violations[[ROW, "column", "detail", "fix"]].itertuples(index=False, name=None)
    ])
    per_row = messages.groupby(ROW, sort=True).agg(
        column_name=("column", "first"), rule=("rule", "first"),
        message=("message", " | ".join)).reset_index()
    per_row["original"] = [
        json.dumps(original.loc[r].to_dict(), ensure_ascii=False, default=str)
        for r in per_row[ROW]
    ]
    _save(per_row.rename(columns={ROW: "source_row"})[QUARANTINE_COLUMNS],
          work / "rejected_rules.arrow")
    return batch_id


def dedup_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 5: record hashes; repeats within the file set aside."""
    _open_batch(settings, batch_id)
    work = _work(settings, batch_id)
    frame = _load(work / "checked.arrow")
    frame[RECORD_HASH] = record_hashes(frame, contract.field_names, pseudonym_key(settings))
    first, repeats = split_batch_duplicates(frame)
    _save(first, work / "deduped.arrow")
    _save(repeats[[ROW, RECORD_HASH]], work / "repeats.arrow")
    return batch_id


def quality_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 6: the dataset's GX suite on the batch's records; critical failure quarantines it."""
    batch = _open_batch(settings, batch_id)
    work = _work(settings, batch_id)
    records = _load(work / "deduped.arrow", columns=contract.field_names)
    with engine_for(settings.store_url).connect() as conn:
        previous_rows, previous_at = quality.previous_batch(conn, contract.id, batch_id)
    results = quality.validate(records, contract, quality.load_suite(contract), previous_rows,
                               previous_at, batch.received_at)
    (work / "quality.json").write_text(json.dumps([r.__dict__ for r in results], default=str,
                                                  ensure_ascii=False))
    failed = quality.critical_failures(results)
    if failed:
        names = ", ".join(r.expectation for r in failed)
        error = QualityFailed(f"critical expectations failed: {names}; the batch is kept "
                              f"aside, nothing was loaded. Fix: correct the extract and send it "
                              f"again; see {settings.quality_dir / 'scorecard.html'}")
        quarantine_file(settings, batch, error, rows_in=_read_facts(work)["rows_in"],
                        results=results)
        raise error
    return batch_id


def protect_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 7, beside quality: subject pseudonyms, sensitive fields encrypted with their
    blind indexes, quarantined originals sealed; the load takes records and quarantined
    rows from here only."""
    _open_batch(settings, batch_id)
    work = settings.work_dir / batch_id
    protector = protect.protector(settings)
    try:
        records = protector.protect(_load(work / "deduped.arrow"), contract)
        rejected = pd.concat([_load(work / "rejected_read.arrow"),
                              _load(work / "rejected_rules.arrow")], ignore_index=True)
        rejected["original"] = protect.seal_originals(rejected["original"], contract, protector)
        _save(records, work / "protected.arrow")
        _save(rejected, work / "rejected.arrow")
    except FileNotFoundError:  # quality quarantined the batch meanwhile, folder and all
        _open_batch(settings, batch_id)
        raise
    return batch_id


def _read_facts(work: Path) -> dict:
    """What the read stage found out about the file: encoding and rows in."""
    return json.loads((work / "read.json").read_text())


def _quality_results(work: Path) -> list:
    path = work / "quality.json"
    if not path.exists():
        return []
    return [quality.QualityResult(**r) for r in json.loads(path.read_text())]


def load(settings: Settings, contract: Contract, batch_id: str) -> ledger.Counts:
    """Stage 8: one transaction into the central store; the work folder is then removed."""
    work = settings.work_dir / batch_id
    engine = engine_for(settings.store_url)
    with engine.connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status != ledger.OPEN:
        return ledger.Counts(batch.rows_in, batch.stored, batch.duplicates, batch.quarantined)
    rejected = _load(work / "rejected.arrow")
    records = _load(work / "protected.arrow")
    repeats = _load(work / "repeats.arrow")
    facts = _read_facts(work)
    outcome = BatchOutcome(
        records=records, repeats=repeats, rejected=rejected,
        scope=[ScopeViolation(**v) for v in json.loads((work / "scope.json").read_text())],
        rows_in=facts["rows_in"],
        encoding=facts["encoding"],
        consent={field: tuple(kd) for field, kd in
                 json.loads((work / "consent.json").read_text()).items()},
    )
    with engine.begin() as conn:
        counts = load_batch(conn, contract, batch_id, outcome, _now())
        quality.store_results(conn, batch_id, contract.id, _quality_results(work), _now())
    shutil.rmtree(work, ignore_errors=True)
    return counts


# The stages between discovery and load, in the order the DAG runs them; the DAG
# runs quality and protect side by side, and load waits for both.
STAGES = (
    ("read", read), ("conform", conform_stage), ("consent", consent_stage),
    ("check", check_stage), ("dedup", dedup_stage), ("quality", quality_stage),
    ("protect", protect_stage),
)
SIDE_BY_SIDE = ("quality", "protect")
