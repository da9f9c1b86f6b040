"""
### Ingest a department's extracts into the central store

One DAG per dataset contract in `include/catalog/`. Each run lists the
department's landing area, records new files in the batch ledger, and takes
every waiting batch through the stages of `jinshu.pipeline.STAGES` (one mapped
group per file; the tasks are made from that registry):

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

from jinshu import pipeline, tasks
from jinshu.catalog import Contract


def stage_task(contract: Contract, stage: pipeline.Stage):
    """The Airflow task of one registry stage; ``load`` updates the dataset's Asset."""
    if stage is pipeline.LOAD:
        @task(task_id=stage.task_id, outlets=[tasks.central_asset(contract)],
              max_active_tis_per_dagrun=1)
        def load(batch_id: str) -> dict[str, int]:
            return tasks.load_batch(contract.id, batch_id)

        return load

    @task(task_id=stage.task_id)
    def run(batch_id: str) -> str:
        return tasks.run_stage(stage.name, contract.id, batch_id)

    return run


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
            made = {}
            for stage in pipeline.STAGES:  # the registry's order respects every stage's ``after``
                upstream = [made[name] for name in stage.after]
                made[stage.name] = stage_task(contract, stage)(upstream[0] if upstream else batch_id)
                for other in upstream[1:]:
                    other >> made[stage.name]
            return made[pipeline.LOAD.name]

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
