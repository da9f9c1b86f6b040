"""The ingest stages of one dataset, as the DAG's tasks call them (in the order of
:data:`jinshu.pipeline.STAGES`).

A dropped file is cut into chunks of records (:mod:`jinshu.ingest.chunks`); every stage
but the load runs on one chunk: it takes a chunk ref (``<batch_id>/c00003``), reads the
previous stage's file from the chunk's stage folder, writes its own, and returns the ref:
tasks pass keys, not data. Given a batch id instead, a stage runs on each of the batch's
chunks in turn. Stages are idempotent; only ``load`` writes to the central store, once per
file, in one transaction. A file that cannot be read at all is quarantined whole (its
bytes kept under ``_quarantine/`` in the landing area).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from jinshu.catalog import Contract
from jinshu.collect import consent_registry
from jinshu.collect.conform import (
    AmbiguousColumns,
    MissingColumns,
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
from jinshu.ingest import chunks
from jinshu.ingest.assemble import PROTECTED, ChunkedFile, ChunksUnfinished, original_file
from jinshu.ingest.isolate import read_capped
from jinshu.ingest.load import load_batch
from jinshu.ingest.quarantine import (
    landing_store,
    quarantine_file,
    ragged_rejections,
    read_landed,
    row_rejections,
    withhold_raw,
)
from jinshu.protect import crypto, policy
from jinshu.protect.keys import protector, pseudonym_key
from jinshu.protect.pseudonyms import SUBJECT_KEY, Pseudonymizer
from jinshu.quality import records as quality_records
from jinshu.quality.combine import decided_failures
from jinshu.quality.results import QualityResult, critical_failures
from jinshu.quality.suites import load_suite, suite_entries
from jinshu.quality.validation import batch_results, validate_records
from jinshu.repeat import ledger
from jinshu.repeat.dedup import RECORD_HASH, key_partitions, record_hashes, split_batch_duplicates
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore
from jinshu.store.schema import ensure_schema
from jinshu.store.workspace import Workspace, parse_ref

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


def split(settings: Settings, contract: Contract, batch_id: str) -> list[str]:
    """The refs of the batch's chunks, its file cut into chunks first if it was not yet
    (a CSV file is read here, as a stream). A file beyond the contract's limits, one that
    cannot be read, or one removed since discovery is quarantined whole: no chunks."""
    try:
        batch = _open_batch(settings, batch_id)
    except BatchClosed:
        return []
    work = Workspace.of(settings, batch_id)
    manifest = chunks.manifest_of(work)
    if manifest is None:
        try:
            manifest = chunks.split(settings, contract, batch, work)
        except (UnreadableFile, FileNotFoundError) as failed:
            quarantine_file(settings, batch, failed if isinstance(failed, UnreadableFile)
                            else FILE_MISSING)
            return []
    return chunks.refs(batch_id, manifest)


@dataclass(frozen=True)
class Job:
    """One chunk of one batch, as a stage sees it."""

    settings: Settings
    contract: Contract
    batch: sa.Row
    manifest: chunks.Manifest
    work: Workspace  # the chunk's stage files

    def quarantine_whole(self, error: Exception, results: list | None = None) -> None:
        """Quarantine the whole file, every record it held counted (as far as it was read)."""
        quarantine_file(self.settings, self.batch, error, rows_in=_rows_in(self), results=results)


def _rows_in(job: Job) -> int:
    """Records of the file: found when it was cut, or by reading its one chunk."""
    if job.manifest.rows_in is not None:
        return job.manifest.rows_in
    return job.work.read_json("read.json")["rows_in"] if job.work.exists("read.json") else 0


def per_chunk(stage: Callable[[Job], None]) -> Callable[[Settings, Contract, str], str]:
    """The registry's form of a chunk stage: ``(settings, contract, ref) -> ref``; a batch id
    for ``ref`` runs it on every chunk of the batch in turn."""

    @functools.wraps(stage)
    def run(settings: Settings, contract: Contract, ref: str) -> str:
        batch_id, index = parse_ref(ref)
        if index is None:
            refs = split(settings, contract, batch_id)
            if not refs:
                _open_batch(settings, batch_id)  # quarantined whole: BatchClosed, naming why
            for chunk in refs:
                run(settings, contract, chunk)
            return ref
        batch = _open_batch(settings, batch_id)
        manifest = chunks.manifest_of(Workspace.of(settings, batch_id))
        try:
            if manifest is None:
                raise FileNotFoundError(f"batch {batch_id} has no chunks (its stage files were "
                                        "removed); the next run of its DAG cuts the file again")
            stage(Job(settings, contract, batch, manifest, Workspace.of(settings, ref)))
        except FileNotFoundError:  # the batch was quarantined meanwhile, stage files and all
            _open_batch(settings, batch_id)
            raise
        return ref

    return run


@per_chunk
def read(job: Job) -> None:
    """Stage 1: the chunk's records as read; ragged rows set aside with their raw text.

    A CSV file was read as a stream when it was cut into chunks; a workbook or JSON file,
    one chunk, is parsed here. A file beyond the contract's limits, one that cannot be
    read, or one removed since discovery is quarantined whole, with the reason and the fix.
    """
    if job.manifest.streamed:
        return
    batch, limits = job.batch, job.contract.limits
    try:
        check_size(batch.file_size, limits)
        data = read_landed(job.settings, batch)
        extract = read_capped(batch.file_key, data, limits, header_score(job.contract))
    except (UnreadableFile, FileNotFoundError) as failed:
        error = failed if isinstance(failed, UnreadableFile) else FILE_MISSING
        job.quarantine_whole(error)
        raise BatchClosed(f"batch {batch.batch_id} quarantined whole: {error}") from failed
    del data
    job.work.save("read.arrow", extract.frame)
    job.work.save("rejected_read.arrow", ragged_rejections(batch.file_key, extract.bad_records))
    job.work.write_json("read.json", {"encoding": extract.encoding, "rows_in": extract.rows_in,
                                      "header_row": extract.header_row})


@per_chunk
def conform_stage(job: Job) -> None:
    """Stage 2: headers to fields, values cleaned; undeclared columns dropped and counted."""
    work = job.work
    frame = work.load("read.arrow")
    try:
        conformed, scope = conform(frame, job.contract)
    except (MissingColumns, AmbiguousColumns, StateSecretMarking) as error:
        job.quarantine_whole(error)
        raise BatchClosed(f"batch {job.batch.batch_id} quarantined whole: {error}") from error
    work.save("conformed.arrow", conformed)
    if scope:  # else the records as received are read.arrow's, all declared
        work.save("original.arrow", declared_only(frame, scope))
    work.write_json("scope.json", [v.__dict__ for v in scope])
    if scope:  # a ragged row's raw text may hold undeclared values: those are never kept
        work.save("rejected_read.arrow", withhold_raw(work.load("rejected_read.arrow")))


@per_chunk
def consent_stage(job: Job) -> None:
    """Stage 3: consent-based fields kept only where the subject consented; records all stay."""
    counts: dict[str, tuple[int, int]] = {}
    if consent_fields(job.contract):
        frame = job.work.load("conformed.arrow")
        with engine_for(job.settings.store_url).connect() as conn:
            gated, counts = consent_registry.apply_gate(conn, frame, job.contract,
                                                        Pseudonymizer(pseudonym_key(job.settings)),
                                                        job.batch.received_at.date())
        job.work.save("gated.arrow", gated)
    job.work.write_json("consent.json", counts)


def _gated(work: Workspace) -> str:
    return "gated.arrow" if work.exists("gated.arrow") else "conformed.arrow"


@per_chunk
def check_stage(job: Job) -> None:
    """Stage 4: row rules; failing rows are quarantined with every reason found. Natural
    keys sent with different values are kept aside for the load, which sets aside every
    record of such a key in the other chunks too."""
    work = job.work
    checked = check_rows(work.load(_gated(work)), job.contract)
    work.save("checked.arrow", checked.valid)
    original = (work.load(original_file(work)).set_index(ROW) if not checked.violations.empty
                else pd.DataFrame())
    work.save("rejected_rules.arrow", row_rejections(job.batch.file_key, original, checked.violations))
    if checked.clashes is not None and not checked.clashes.empty:
        work.save("clashes.arrow", checked.clashes)


@per_chunk
def dedup_stage(job: Job) -> None:
    """Stage 5: record hashes; repeats within the chunk set aside (the load finds those
    across chunks)."""
    frame = job.work.load("checked.arrow")
    frame[RECORD_HASH] = record_hashes(frame, job.contract.field_names, pseudonym_key(job.settings))
    first, repeats = split_batch_duplicates(frame)
    job.work.save("deduped.arrow", first)
    job.work.save("repeats.arrow", repeats[[ROW, RECORD_HASH]])


@per_chunk
def quality_stage(job: Job) -> None:
    """Stage 6: the dataset's GX expectations on the chunk's records; a critical one failed
    here fails the file, which is quarantined whole. The load adds the chunks' results up
    and runs the two batch checks on the whole file (:mod:`jinshu.quality.combine`)."""
    records = job.work.load("deduped.arrow", columns=job.contract.field_names)
    results = validate_records(records, job.contract, load_suite(job.contract), job.batch.received_at)
    job.work.write_json("quality.json", [r.__dict__ for r in results])
    failed = decided_failures(results)
    if failed:
        error = _quality_failed(job.settings, failed)
        job.quarantine_whole(error, results=results)
        raise error


def _quality_failed(settings: Settings, failed: list[QualityResult]) -> QualityFailed:
    names = ", ".join(r.expectation for r in failed)
    return QualityFailed(f"critical expectations failed: {names}; the batch is kept aside, "
                         f"nothing was loaded. Fix: correct the extract and send it again; see "
                         f"{settings.scorecard_location}")


@per_chunk
def protect_stage(job: Job) -> None:
    """Stage 7, beside quality: subject pseudonyms, sensitive fields encrypted with their
    blind indexes, quarantined originals sealed; the records are written in key partitions,
    which the load settles and stores one at a time."""
    work, contract = job.work, job.contract
    protection = protector(job.settings)
    records = protection.protect(work.load("deduped.arrow"), contract)
    records = records.drop(columns=[f.name for f in contract.taken_fields])  # not stored here
    parts = _write_partitions(work, "part", records, contract, job.manifest.partitions)
    clash_parts = []
    if work.exists("clashes.arrow"):
        clashes = stored_key(work.load("clashes.arrow"), contract, protection)
        clash_parts = _write_partitions(work, "clash", clashes, contract, job.manifest.partitions)
    rejected = pd.concat([work.load("rejected_read.arrow"), work.load("rejected_rules.arrow")],
                         ignore_index=True)
    rejected["original"] = crypto.seal_originals(
        rejected["original"], contract, protection,
        crypto.quarantine_rows(job.batch.batch_id, rejected["source_row"]))
    work.save("rejected.arrow", rejected)
    work.write_json(PROTECTED, {"parts": parts, "clashes": clash_parts, "records": len(records)})


def stored_key(keys: pd.DataFrame, contract: Contract, protection: crypto.Protector) -> pd.DataFrame:
    """Natural-key values (normalized) as the dataset table stores them: an encrypted field
    by its blind index."""
    encrypted = {f.name for f in policy.encrypted_fields(contract)}
    return pd.DataFrame({
        column: protection.pseudonyms.many(keys[name]) if name in encrypted else keys[name]
        for name, column in zip(contract.natural_key, policy.key_columns(contract), strict=True)})


def _write_partitions(work: Workspace, kind: str, frame: pd.DataFrame, contract: Contract,
                      parts: int) -> list[int]:
    """``frame`` split by key partition into ``<kind>-<p>.arrow`` files; the partitions written."""
    key = policy.key_columns(contract)
    ordered = key[0] in {SUBJECT_KEY, *policy.extra_index_columns(contract)}
    where = key_partitions(frame, key, parts, ordered)
    written = []
    for p, rows in pd.Series(np.arange(len(frame))).groupby(where, sort=True):
        work.save(f"{kind}-{p:05d}.arrow", frame.iloc[rows.to_numpy()])
        written.append(int(p))
    return written


def load(settings: Settings, contract: Contract, batch_id: str) -> ledger.Counts:
    """Stage 8, once per file: every chunk into the central store in one transaction; then
    the batch's stage files are removed. The chunks' quality results are added up and the
    batch checks run on the whole file; a critical failure among them rolls the load back
    and quarantines the file."""
    engine = engine_for(settings.store_url)
    with engine.connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status != ledger.OPEN:
        return ledger.Counts(batch.rows_in, batch.stored, batch.duplicates, batch.quarantined)
    work = Workspace.of(settings, batch_id)
    manifest = chunks.manifest_of(work)
    if manifest is None:
        raise ChunksUnfinished(f"batch {batch_id} has no chunks (its stage files were removed); "
                               "the next run of its DAG cuts the file again")
    outcome = ChunkedFile(contract, batch, manifest, work, protector(settings))
    suite = load_suite(contract)
    try:
        with engine.begin() as conn:
            counts = load_batch(conn, contract, batch_id, outcome, _now())
            previous_rows, previous_at = quality_records.previous_batch(conn, contract.id, batch_id)
            results = _in_suite_order(suite, outcome.quality + batch_results(
                suite, outcome.distinct_records, previous_rows, previous_at, batch.received_at))
            if critical_failures(results):
                raise _Rejected(results)
            quality_records.store_results(conn, batch_id, contract.id, results, _now())
    except _Rejected as rejected:  # rolled back: nothing of the file was stored
        error = _quality_failed(settings, critical_failures(rejected.results))
        quarantine_file(settings, batch, error, rows_in=outcome.rows_in, results=rejected.results)
        raise error from None
    work.remove()
    return counts


class _Rejected(Exception):
    def __init__(self, results: list[QualityResult]) -> None:
        self.results = results


def _in_suite_order(suite: dict, results: list[QualityResult]) -> list[QualityResult]:
    by_id = {r.expectation: r for r in results}
    return [by_id[e["id"]] for e in suite_entries(suite) if e["id"] in by_id]
