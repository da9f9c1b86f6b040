"""What the DAGs' tasks call: one function per task, settings and catalog resolved here.

Functions take and return small values (dataset ids, batch ids, counts), so
nothing sensitive or bulky passes through XCom.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache, reduce
from operator import or_
from pathlib import Path

from airflow.sdk.exceptions import AirflowSkipException

from jinshu import pipeline
from jinshu.catalog import Contract, load_catalog
from jinshu.collect import consent_intake
from jinshu.evolve.migrate import require_current
from jinshu.govern import audit, incident
from jinshu.govern.report import batch_table
from jinshu.open import publisher
from jinshu.protect import keys, leakguard
from jinshu.repeat import ledger
from jinshu.settings import Settings, get_settings
from jinshu.share import exchange
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.schema import ensure_schema

log = logging.getLogger(__name__)
DEFAULT_ARGS = {"owner": audit.PLATFORM, "retries": 2, "retry_delay": timedelta(minutes=1)}


@cache
def _catalog(catalog_dir: Path) -> dict[str, Contract]:
    return load_catalog(catalog_dir)


def _act_as_this_task() -> None:
    """Audit entries of this task name it: ``airflow:<dag_id>.<task_id>``."""
    from airflow.sdk import get_current_context

    try:
        ti = get_current_context()["ti"]
    except RuntimeError:  # called outside a running task (tests, the shell)
        return
    audit.acting_as(f"airflow:{ti.dag_id}.{ti.task_id}")


def _context(dataset_id: str | None = None) -> tuple[Settings, dict[str, Contract], Contract | None]:
    _act_as_this_task()
    settings = get_settings()
    contracts = _catalog(settings.catalog_dir)
    return settings, contracts, contracts[dataset_id] if dataset_id else None


def discover_extracts(dataset_id: str) -> list[str]:
    settings, contracts, contract = _context(dataset_id)
    waiting = pipeline.discover(settings, contract, contracts)
    log.info("%s: %d batch(es) waiting in %s", dataset_id, len(waiting), settings.landing_url)
    return waiting


def split_extracts(dataset_id: str, batch_ids: list[str]) -> list[str]:
    """Each waiting file cut into chunks (once): the chunks to take through the stages.
    A file that cannot be read is quarantined whole and has none."""
    settings, _, contract = _context(dataset_id)
    chunks = [ref for batch_id in batch_ids for ref in pipeline.split(settings, contract, batch_id)]
    log.info("%s: %d batch(es) in %d chunk(s) of up to %d records", dataset_id, len(batch_ids),
             len(chunks), settings.chunk_rows)
    return chunks


def run_stage(stage_name: str, dataset_id: str, chunk: str) -> str:
    """One ingest stage of one chunk (:data:`jinshu.pipeline.STAGES`); returns the chunk ref.

    A batch settled by an earlier stage skips the rest; a failed critical
    expectation fails ``validate_quality`` (red in the UI) after quarantining.
    """
    from airflow.sdk.exceptions import AirflowFailException

    settings, _, contract = _context(dataset_id)
    try:
        pipeline.BY_NAME[stage_name].run(settings, contract, chunk)
    except pipeline.BatchClosed as closed:
        raise AirflowSkipException(str(closed)) from closed
    except pipeline.QualityFailed as failed:
        log.error("quality check failed: dataset %s, chunk %s: %s", dataset_id, chunk, failed)
        raise AirflowFailException(str(failed)) from failed
    return chunk


def fail_run_if_a_batch_failed(dataset_id: str) -> None:
    """Runs only when a batch's task failed, so the DAG run itself shows failed."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(f"a batch of {dataset_id} failed: see the red task in its group")


def _upload_reports(settings: Settings, built: Path) -> None:
    """Production: the reports built in ``built`` to the reports bucket. When the Data Docs were
    rebuilt, pages of batches they no longer show are removed from the bucket too."""
    store = open_store(settings.quality_url, settings.s3_endpoint_url)
    written = set()
    for path in sorted(built.rglob("*")):
        key = path.relative_to(built).as_posix()
        if path.is_file() and not key.startswith((".", "gx/")):
            store.write(key, path.read_bytes())
            written.add(key)
    if (built / "data-docs").is_dir():
        for obj in store.list("data-docs/"):
            if obj.key not in written:
                store.delete(obj.key)
    log.info("quality reports published to %s", store.url)


def build_quality_reports() -> str:
    """Rebuild the Data Docs and the department scorecard; returns where the scorecard is.

    A report the leak guard blocks is not written (the previous one stays) and fails the task.
    With a reports bucket (``JINSHU_QUALITY_URL``) they are built in an empty scratch folder
    and what it holds afterwards goes to the bucket: no worker's disk keeps a copy that a
    run on another host would miss, or would publish over a newer one.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from jinshu.govern import scorecard

    settings, contracts, _ = _context()
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    with tempfile.TemporaryDirectory(prefix="jinshu-quality-") as scratch:
        out = Path(scratch) if settings.quality_url else settings.quality_dir
        try:
            paths = scorecard.build_reports(engine, out, contracts)
        except leakguard.LeakFound as leak:
            if settings.quality_url:  # the reports that passed; the bucket keeps the others
                _upload_reports(settings, out)
            raise AirflowFailException(str(leak)) from leak
        if settings.quality_url:
            _upload_reports(settings, out)
    log.info("quality reports: %s", ", ".join(p.name for p in paths.values()))
    return settings.scorecard_location


def load_batch(dataset_id: str, batch_id: str) -> dict[str, int]:
    """Every chunk of one file into the central store, in one transaction.

    Skipped when an earlier stage settled the batch (quarantined whole); fails, loading
    nothing, while a chunk has not finished its stages or when the file's quality results
    fail a critical expectation.
    """
    from airflow.sdk.exceptions import AirflowFailException

    settings, _, contract = _context(dataset_id)
    with engine_for(settings.store_url).connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status not in (ledger.OPEN, "loaded"):
        raise AirflowSkipException(f"batch {batch_id} is {batch.status}: nothing to load")
    try:
        counts = pipeline.LOAD.run(settings, contract, batch_id)
    except (pipeline.QualityFailed, pipeline.ChunksUnfinished) as failed:
        log.error("%s %s: %s", dataset_id, batch_id, failed)
        raise AirflowFailException(str(failed)) from failed
    log.info("%s %s: %s", dataset_id, batch_id, counts)
    return counts.__dict__


def report_batches(dataset_id: str) -> str:
    """Log the ledger of this dataset as a table (shown in the task log)."""
    settings, _, _ = _context(dataset_id)
    with engine_for(settings.store_url).connect() as conn:
        table = batch_table(ledger.summary(conn, dataset_id))
    log.info("batches of %s:\n%s", dataset_id, table)
    return dataset_id


def discover_consent_extracts() -> list[str]:
    settings, contracts, _ = _context()
    waiting = consent_intake.discover(settings, contracts)
    log.info("%d consent extract(s) waiting", len(waiting))
    return waiting


def record_consent_extract(batch_id: str) -> dict[str, int]:
    settings, contracts, _ = _context()
    counts = consent_intake.record_extract(settings, contracts, batch_id)
    log.info("consent batch %s: %s", batch_id, counts)
    return counts.__dict__


def _now() -> datetime:
    return datetime.now(UTC)


def _publish(channel: str, dataset_id: str, publish) -> int:
    """Suspended: skipped with the incident named; blocked by the leak guard: failed, no retry."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return publish()
    except incident.DatasetSuspended as suspended:
        log.warning("%s: %s", channel, suspended)
        raise AirflowSkipException(str(suspended)) from suspended
    except leakguard.LeakFound as leak:
        log.error("%s: %s blocked by the leak guard, incident opened: %s", channel, dataset_id, leak)
        raise AirflowFailException(str(leak)) from leak


def _heads(settings: Settings):
    """Where each publication leaves the audit chain's head."""
    return open_store(settings.heads_url, settings.s3_endpoint_url)


def publish_to_exchange(dataset_id: str) -> int:
    settings, contracts, contract = _context(dataset_id)
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    require_current(engine, contract)  # a table behind its contract: migrate first
    rows = _publish("exchange", dataset_id, lambda: exchange.publish(
        engine, contract, _now(), keys.protector(settings), heads=_heads(settings),
        catalog=contracts))
    log.info("exchange: %s published, %d rows", dataset_id, rows)
    return rows


def publish_open_dataset(dataset_id: str) -> int:
    settings, contracts, contract = _context(dataset_id)
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    require_current(engine, contract)  # a table behind its contract: migrate first
    store = open_store(settings.open_data_url, settings.s3_endpoint_url)
    rows = _publish("open data", dataset_id, lambda: publisher.publish(
        engine, store, contract, _now(), settings.open_data_versions, heads=_heads(settings),
        catalog=contracts, public_url=settings.open_data_public_url))
    log.info("open data: %s published to %s, %d rows", dataset_id, store.url, rows)
    return rows


def fail_run_if_a_publication_failed() -> None:
    """Runs only when an open-data publication failed, so the run shows failed after the
    catalog was rewritten for the others."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException("an open-data publication failed: see the red task; its dataset "
                               "keeps its previous version")


def open_datasets_in_order(livelihood: bool) -> list[str]:
    """The open datasets, livelihood ones (民生优先) or the others, in publication order."""
    contracts = catalog_at_parse_time()
    return [c.id for c in publisher.publication_order(list(contracts.values()))
            if c.open.livelihood == livelihood]


def write_open_catalog() -> str:
    """The DCAT-AP catalog and the catalog page of the open datasets that have a current
    version (a withdrawn one drops out); returns the page's location."""
    settings, contracts, _ = _context()
    store = open_store(settings.open_data_url, settings.s3_endpoint_url)
    listed = publisher.write_catalog(store, list(contracts.values()), _now(),
                                     settings.open_data_public_url)
    log.info("open data catalog: %d dataset(s), %s/index.html", len(listed), store.url)
    return f"{store.url}/index.html"


def central_asset(contract: Contract):
    """The Airflow Asset a dataset's ingest updates and its publishers wait for."""
    from airflow.sdk import Asset

    return Asset(uri=contract.asset_uri, name=f"central.{contract.id}", group="central_store")


def any_central_asset(contracts: list[Contract]):
    """A publisher's Asset condition: any of the datasets' Assets; None when there is none
    (an empty catalog), so the DAG keeps a time-only or manual schedule."""
    assets = [central_asset(c) for c in contracts]
    return reduce(or_, assets) if assets else None


def catalog_at_parse_time() -> dict[str, Contract]:
    """The catalog, for DAG files to generate DAGs from (files only, no DB or network)."""
    return _catalog(get_settings().catalog_dir)


def rotate_data_keys(chunk_rows: int = 10_000) -> dict[str, int]:
    """Re-encrypt every stored value to the active data key; a retry resumes where it stopped."""
    from jinshu.protect import rotation

    settings, contracts, _ = _context()
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    report = rotation.rotate(engine, contracts, keys.protector(settings), _now(), chunk_rows)
    for dataset, fields in report.reencrypted.items():
        log.info("%s: re-encrypted to %s: %s", dataset, report.active, fields)
    log.info("%d value(s) re-encrypted in %d chunk(s); %d changed meanwhile",
             report.total, report.chunks, report.skipped)
    return {"reencrypted": report.total, "chunks": report.chunks, "skipped": report.skipped}


def verify_data_keys() -> dict[str, int]:
    """Decrypt and re-index every stored value; fails when one is off the active key or wrong."""
    from airflow.sdk.exceptions import AirflowFailException

    from jinshu.protect import rotation

    settings, contracts, _ = _context()
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    report = rotation.verify(engine, contracts, keys.protector(settings))
    log.info("key verification:\n%s", "\n".join(report.lines()))
    if not report.ok:
        raise AirflowFailException(
            f"{report.not_active} value(s) not under the active key '{report.active}', "
            f"{report.mismatches} mismatch(es): see the log. Fix: rerun the DAG for the former; "
            "restore the latter from the source extract")
    return {"checked": report.checked}


def sweep_retention() -> dict[str, int]:
    """Remove the landing extracts, quarantined files and stage folders whose retention ran out."""
    from jinshu.govern import retention

    settings, contracts, _ = _context()
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    done = retention.sweep(settings, contracts, _now())
    for dataset, counts in sorted(done.removed.items()):
        log.info("retention: %s: %s", dataset, counts)
    totals = retention.removed_counts(done)
    log.info("retention sweep: %s", totals)
    return totals


def flag_overdue_exchange_requests() -> list[int]:
    """Escalate exchange requests left unanswered past their working-day deadline."""
    from jinshu.share import grants

    settings, contracts, _ = _context()
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    flagged = grants.flag_overdue(engine, _now(), settings.holidays)
    log.info("exchange: %d request(s) overdue and escalated: %s", len(flagged), flagged)
    return flagged


def _repeat_run_id() -> str:
    """The detection run's id: the Airflow run's (so a retry replaces its findings), else
    the time on the command line or in a test."""
    from airflow.sdk import get_current_context

    try:
        airflow_run = get_current_context()["run_id"]
    except RuntimeError:
        return f"run-{_now():%Y%m%dT%H%M%S%fZ}"
    return airflow_run if len(airflow_run) <= 96 else hashlib.sha256(
        airflow_run.encode()).hexdigest()[:32]


def detect_repeat_collection() -> str:
    """Measure, per dataset holding a concept another dataset is the source of, the subjects
    collected twice and their conflicting values; returns the run's id."""
    from jinshu.catalog import load_concepts
    from jinshu.repeat import detect

    settings, contracts, _ = _context()
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    for contract in contracts.values():
        require_current(engine, contract)  # a table behind its contract: migrate first
    summary = detect.run(engine, contracts, load_concepts(settings.catalog_dir), _repeat_run_id(),
                         _now())
    log.info("repeat collection: %s", summary.as_dict())
    return summary.run_id


def send_repeat_findings_back(run_id: str) -> dict[str, int]:
    """Open, refresh or close the notices addressed to the collecting departments."""
    from jinshu.repeat import notices

    settings, _, _ = _context()
    sent = notices.send_back(engine_for(settings.store_url), run_id, _now())
    log.info("repeat collection %s: notices %s", run_id, sent.as_dict())
    return sent.as_dict()


def report_repeat_collection(run_id: str) -> str:
    """Log the repeat-collection report (counts only) in the task log."""
    from jinshu.catalog import load_concepts
    from jinshu.govern.report import render_repeat, repeat_report

    settings, contracts, _ = _context()
    with engine_for(settings.store_url).connect() as conn:
        report = repeat_report(conn, contracts, load_concepts(settings.catalog_dir))
    log.info("repeat collection after run %s:\n%s", run_id, render_repeat(report))
    return run_id


def concept_holders(contracts: dict[str, Contract]) -> list[Contract]:
    """The datasets holding a concept: their ingests are what the detection waits for."""
    return [c for c in contracts.values() if any(f.concept for f in c.fields)]
