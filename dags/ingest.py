"""
### Ingest a department's extracts into the central store

One DAG per dataset contract in `include/catalog/`. Each run lists the
department's landing area, records new files in the batch ledger, and takes
every waiting batch through the stages below (one mapped group per file):

`read_extract` → `conform_to_contract` (undeclared columns dropped and
reported) → `apply_consent_gate` (consent-based values kept only where the
subject consented; the record always goes on) → `check_row_rules` →
`deduplicate_records` → `validate_quality` (the dataset's Great Expectations
suite; a failed critical expectation quarantines the whole batch and turns
this task red) beside `protect_records` (subject pseudonyms; sensitive fields
encrypted, with their blind indexes) → `load_batch` (one transaction; updates
the dataset's Asset, which schedules the publishers).

A file that cannot be read, or lacks a required column, is quarantined whole
and its later stages are skipped. `report_batches` logs the ledger:
rows in = stored + duplicates + quarantined for every batch;
`build_quality_reports` rebuilds the Data Docs and the department scorecard.
Both run whatever happened; `fail_run_if_a_batch_failed` then keeps a failed
batch from hiding behind them: the run is marked failed.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_parsing_context, task, task_group

from jinshu import tasks
from jinshu.catalog import Contract


def build_ingest_dag(contract: Contract):
    @dag(
        dag_id=f"ingest_{contract.id}",
        description=f"{contract.department.name} · {contract.title}",
        schedule="@hourly",
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=tasks.DEFAULT_ARGS,
        tags=["ingest", contract.department.code, f"sharing:{contract.sharing.class_}"],
        doc_md=__doc__,
    )
    def ingest():
        @task
        def discover_extracts() -> list[str]:
            return tasks.discover_extracts(contract.id)

        @task_group
        def ingest_batch(batch_id: str):
            @task
            def read_extract(batch_id: str) -> str:
                return tasks.read_extract(contract.id, batch_id)

            @task
            def conform_to_contract(batch_id: str) -> str:
                return tasks.conform_to_contract(contract.id, batch_id)

            @task
            def apply_consent_gate(batch_id: str) -> str:
                return tasks.apply_consent_gate(contract.id, batch_id)

            @task
            def check_row_rules(batch_id: str) -> str:
                return tasks.check_row_rules(contract.id, batch_id)

            @task
            def deduplicate_records(batch_id: str) -> str:
                return tasks.deduplicate_records(contract.id, batch_id)

            @task
            def validate_quality(batch_id: str) -> str:
                return tasks.validate_quality(contract.id, batch_id)

            @task
            def protect_records(batch_id: str) -> str:
                return tasks.protect_records(contract.id, batch_id)

            @task(outlets=[tasks.central_asset(contract)], max_active_tis_per_dagrun=1)
            def load_batch(batch_id: str) -> dict[str, int]:
                return tasks.load_batch(contract.id, batch_id)

            conformed = conform_to_contract(read_extract(batch_id))
            checked = check_row_rules(apply_consent_gate(conformed))
            deduped = deduplicate_records(checked)
            validated, protected = validate_quality(deduped), protect_records(deduped)
            loaded = load_batch(protected)
            validated >> loaded
            return loaded

        @task(trigger_rule="all_done")
        def report_batches() -> str:
            return tasks.report_batches(contract.id)

        @task(trigger_rule="all_done")
        def build_quality_reports() -> str:
            return tasks.build_quality_reports()

        @task(trigger_rule="one_failed")
        def fail_run_if_a_batch_failed() -> None:
            tasks.fail_run_if_a_batch_failed(contract.id)

        batches = ingest_batch.expand(batch_id=discover_extracts())
        batches >> report_batches() >> build_quality_reports()
        batches >> fail_run_if_a_batch_failed()

    return ingest()


_parsing = get_parsing_context().dag_id
for _contract in tasks.catalog_at_parse_time().values():
    if _parsing in (None, f"ingest_{_contract.id}"):
        globals()[f"ingest_{_contract.id}"] = build_ingest_dag(_contract)
