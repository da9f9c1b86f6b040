"""The ingest stages of one dataset, as the DAG's tasks call them (in the order of
:data:`jinshu.pipeline.STAGES`).

Each stage takes a batch id, reads the previous stage's file from the
batch's work folder, writes its own, and returns the batch id: tasks pass
keys, not data. Stages are idempotent; only ``load`` writes to the central
store, in one transaction. A file that cannot be read at all is quarantined
whole (its bytes kept under ``_quarantine/`` in the landing area).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from jinshu.catalog import Contract
from jinshu.collect import consent_registry
from jinshu.collect.conform import (
    AmbiguousColumns,
    MissingColumns,
    ScopeViolation,
    StateSecretMarking,
    conform,
    declared_only,
    header_score,
)
from jinshu.collect.consent import consent_fields
from jinshu.collect.guard import check_size
from jinshu.collect.read import ROW, UnreadableFile
from jinshu.collect.rules import check_rows
from jinshu.evolve.migrate import require_current
from jinshu.ingest.isolate import read_capped
from jinshu.ingest.load import BatchOutcome, load_batch
from jinshu.ingest.quarantine import (
    landing_store,
    quarantine_file,
    ragged_rejections,
    read_landed,
    row_rejections,
    withhold_raw,
)
from jinshu.protect import crypto
from jinshu.protect.keys import protector, pseudonym_key
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.quality import records as quality_records
from jinshu.quality.results import QualityResult, critical_failures
from jinshu.quality.suites import load_suite
from jinshu.quality.validation import validate
from jinshu.repeat import ledger
from jinshu.repeat.dedup import RECORD_HASH, record_hashes, split_batch_duplicates
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore
from jinshu.store.schema import ensure_schema
from jinshu.store.workspace import Workspace

FILE_MISSING = UnreadableFile(
    "file_missing", "the file was removed from the landing area after it was discovered, before "
    "it was read; nothing of it was taken in", "drop the file again")


class BatchClosed(Exception):
    """The batch was settled by an earlier stage (whole file quarantined)."""


class QualityFailed(Exception):
    """Critical expectations failed: the whole batch is quarantined, nothing loaded."""


def _now() -> datetime:
    return datetime.now(UTC)


def _checksum(store: ObjectStore, key: str) -> str:
    """SHA-256 of an object, streamed: memory is a chunk, whatever the file's size."""
    digest = hashlib.sha256()
    for chunk in store.chunks(key):
        digest.update(chunk)
    return digest.hexdigest()


def discover(settings: Settings, contract: Contract, contracts: dict[str, Contract]) -> list[str]:
    """Record new drops in the ledger; return every batch still waiting for ingest.

    Refused (:class:`jinshu.evolve.migrate.SchemaOutOfDate`) while the dataset's table
    does not match its contract; a new dataset's table is created here.
    """
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    require_current(engine, contract)
    store = landing_store(settings)
    index_key = pseudonym_key(settings)
    with engine.begin() as conn:
        for obj in store.list(contract.landing_prefix):
            name = obj.key.rsplit("/", 1)[-1]
            if name.startswith((".", "_")) or ledger.seen(conn, contract.id, obj, index_key):
                continue  # hidden, archived, or already recorded: no need to read it again
            try:
                checksum = _checksum(store, obj.key)
            except FileNotFoundError:
                continue  # removed since it was listed: there is nothing to record
            ledger.record_drop(conn, contract, obj, checksum, _now(), index_key)
        return ledger.pending(conn, contract.id)


def _open_batch(settings: Settings, batch_id: str) -> sa.Row:
    with engine_for(settings.store_url).connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status != ledger.OPEN:
        raise BatchClosed(f"batch {batch_id} is {batch.status}")  # the reason names the file
    return batch


def read(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 1: decode and parse the file; ragged rows are set aside with their raw text.

    A file beyond the contract's limits, one that cannot be read, or one removed since
    discovery is quarantined whole, with the reason and the fix.
    """
    batch = _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    try:
        check_size(batch.file_size, contract.limits)
        data = read_landed(settings, batch)
        extract = read_capped(batch.file_key, data, contract.limits, header_score(contract))
    except (UnreadableFile, FileNotFoundError) as failed:
        error = failed if isinstance(failed, UnreadableFile) else FILE_MISSING
        quarantine_file(settings, batch, error)
        raise BatchClosed(f"batch {batch_id} quarantined whole: {error}") from failed
    del data
    work.save("read.arrow", extract.frame)
    work.save("rejected_read.arrow", ragged_rejections(batch.file_key, extract.bad_records))
    work.write_json("read.json", {"encoding": extract.encoding,
                                              "rows_in": extract.rows_in,
                                              "header_row": extract.header_row})
    return batch_id


def conform_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 2: headers to fields, values cleaned; undeclared columns dropped and counted."""
    batch = _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    frame = work.load("read.arrow")
    try:
        conformed, scope = conform(frame, contract)
    except (MissingColumns, AmbiguousColumns, StateSecretMarking) as error:
        quarantine_file(settings, batch, error, rows_in=_read_facts(work)["rows_in"])
        raise BatchClosed(f"batch {batch_id} quarantined whole: {error}") from error
    work.save("conformed.arrow", conformed)
    work.save("original.arrow", declared_only(frame, scope))
    work.write_json("scope.json", [v.__dict__ for v in scope])
    if scope:  # a ragged row's raw text may hold undeclared values: those are never kept
        work.save("rejected_read.arrow", withhold_raw(work.load("rejected_read.arrow")))
    return batch_id


def consent_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 3: consent-based fields kept only where the subject consented; records all stay."""
    batch = _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    counts: dict[str, tuple[int, int]] = {}
    if consent_fields(contract):
        frame = work.load("conformed.arrow")
        with engine_for(settings.store_url).connect() as conn:
            gated, counts = consent_registry.apply_gate(conn, frame, contract,
                                               Pseudonymizer(pseudonym_key(settings)),
                                               batch.received_at.date())
        work.save("gated.arrow", gated)
    work.write_json("consent.json", counts)
    return batch_id


def _gated(work: Workspace) -> str:
    return "gated.arrow" if work.exists("gated.arrow") else "conformed.arrow"


def check_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 4: row rules; failing rows are quarantined with every reason found."""
    batch = _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    checked = check_rows(work.load(_gated(work)), contract)
    work.save("checked.arrow", checked.valid)
    original = work.load("original.arrow").set_index(ROW)
    work.save("rejected_rules.arrow", row_rejections(batch.file_key, original, checked.violations))
    return batch_id


def dedup_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 5: record hashes; repeats within the file set aside."""
    _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    frame = work.load("checked.arrow")
    frame[RECORD_HASH] = record_hashes(frame, contract.field_names, pseudonym_key(settings))
    first, repeats = split_batch_duplicates(frame)
    work.save("deduped.arrow", first)
    work.save("repeats.arrow", repeats[[ROW, RECORD_HASH]])
    return batch_id


def quality_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 6: the dataset's GX suite on the batch's records; critical failure quarantines it."""
    batch = _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    records = work.load("deduped.arrow", columns=contract.field_names)
    with engine_for(settings.store_url).connect() as conn:
        previous_rows, previous_at = quality_records.previous_batch(conn, contract.id, batch_id)
    results = validate(records, contract, load_suite(contract), previous_rows,
                               previous_at, batch.received_at)
    work.write_json("quality.json", [r.__dict__ for r in results])
    failed = critical_failures(results)
    if failed:
        names = ", ".join(r.expectation for r in failed)
        error = QualityFailed(f"critical expectations failed: {names}; the batch is kept "
                              f"aside, nothing was loaded. Fix: correct the extract and send it "
                              f"again; see {settings.scorecard_location}")
        quarantine_file(settings, batch, error, rows_in=_read_facts(work)["rows_in"],
                        results=results)
        raise error
    return batch_id


def protect_stage(settings: Settings, contract: Contract, batch_id: str) -> str:
    """Stage 7, beside quality: subject pseudonyms, sensitive fields encrypted with their
    blind indexes, quarantined originals sealed; the load takes records and quarantined
    rows from here only."""
    _open_batch(settings, batch_id)
    work = Workspace.of(settings, batch_id)
    protection = protector(settings)
    try:
        records = protection.protect(work.load("deduped.arrow"), contract)
        records = records.drop(columns=[f.name for f in contract.taken_fields])  # not stored here
        rejected = pd.concat([work.load("rejected_read.arrow"),
                              work.load("rejected_rules.arrow")], ignore_index=True)
        rejected["original"] = crypto.seal_originals(
            rejected["original"], contract, protection,
            crypto.quarantine_rows(batch_id, rejected["source_row"]))
        work.save("protected.arrow", records)
        work.save("rejected.arrow", rejected)
    except FileNotFoundError:  # quality quarantined the batch meanwhile, folder and all
        _open_batch(settings, batch_id)
        raise
    return batch_id


def _read_facts(work: Workspace) -> dict:
    """What the read stage found out about the file: encoding and rows in."""
    return work.read_json("read.json")


def _quality_results(work: Workspace) -> list:
    if not work.exists("quality.json"):
        return []
    return [QualityResult(**r) for r in work.read_json("quality.json")]


def load(settings: Settings, contract: Contract, batch_id: str) -> ledger.Counts:
    """Stage 8: one transaction into the central store; the work folder is then removed."""
    work = Workspace.of(settings, batch_id)
    engine = engine_for(settings.store_url)
    with engine.connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status != ledger.OPEN:
        return ledger.Counts(batch.rows_in, batch.stored, batch.duplicates, batch.quarantined)
    rejected = work.load("rejected.arrow")
    records = work.load("protected.arrow")
    repeats = work.load("repeats.arrow")
    facts = _read_facts(work)
    outcome = BatchOutcome(
        records=records, repeats=repeats, rejected=rejected,
        scope=[ScopeViolation(**v) for v in work.read_json("scope.json")],
        rows_in=facts["rows_in"],
        encoding=facts["encoding"],
        header_row=facts.get("header_row"),
        consent={field: tuple(kd) for field, kd in
                 work.read_json("consent.json").items()},
    )
    with engine.begin() as conn:
        counts = load_batch(conn, contract, batch_id, outcome, _now())
        quality_records.store_results(conn, batch_id, contract.id, _quality_results(work), _now())
    work.remove()
    return counts
