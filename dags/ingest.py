"""
### Ingest a department's extracts into the central store

One DAG per dataset contract in `include/catalog/`. Each run lists the
department's landing area and records new files in the batch ledger
(`discover_extracts`), cuts each waiting file into chunks of
`JINSHU_CHUNK_ROWS` records (`split_extracts`: a CSV file is read as a
stream; a workbook or JSON file is one chunk), then takes every chunk through
the stages of `jinshu.pipeline.STAGES` (one mapped group per chunk, so
workers share a file; the tasks are made from that registry):

`read_extract` → `conform_to_contract` (undeclared columns dropped and
reported) → `apply_consent_gate` (consent-based values kept only where the
subject consented; the record always goes on) → `check_row_rules` →
`deduplicate_records` → `validate_quality` (the dataset's Great Expectations
suite on the chunk; a failed critical expectation quarantines the whole file
and turns this task red) beside `protect_records` (subject pseudonyms;
sensitive fields encrypted, with their blind indexes). A failed chunk is
retried alone. Then `load_batch`, one per file once all its chunks are done:
repeats and natural-key clashes across chunks settled, the whole file stored
in one transaction (a reader never sees half of it), the dataset's Asset
updated, which schedules the publishers.

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


def chunk_task(contract: Contract, stage: pipeline.Stage):
    """The Airflow task of one registry stage that runs per chunk."""

    @task(task_id=stage.task_id, map_index_template="{{ task.op_kwargs['chunk'] }}")
    def run(chunk: str) -> str:
        return tasks.run_stage(stage.name, contract.id, chunk)

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

        @task
        def split_extracts(batch_ids: list[str]) -> list[str]:
            return tasks.split_extracts(contract.id, batch_ids)

        @task_group
        def ingest_chunk(chunk: str) -> None:
            made = {}
            for stage in pipeline.CHUNK_STAGES:  # the registry's order respects ``after``
                upstream = [made[name] for name in stage.after]
                made[stage.name] = chunk_task(contract, stage)(chunk=upstream[0] if upstream else chunk)
                for other in upstream[1:]:
                    other >> made[stage.name]

        @task(task_id=pipeline.LOAD.task_id, outlets=[tasks.central_asset(contract)],
              trigger_rule="all_done", max_active_tis_per_dagrun=1,
              map_index_template="{{ task.op_kwargs['batch_id'] }}")
        def load_batch(batch_id: str) -> dict[str, int]:
            return tasks.load_batch(contract.id, batch_id)

        @task(trigger_rule="all_done")
        def report_batches() -> str:
            return tasks.report_batches(contract.id)

        @task(trigger_rule="all_done")
        def build_quality_reports() -> str:
            return tasks.build_quality_reports()

        @task(trigger_rule="one_failed")
        def fail_run_if_a_batch_failed() -> None:
            tasks.fail_run_if_a_batch_failed(contract.id)

        waiting = discover_extracts()
        chunks = ingest_chunk.expand(chunk=split_extracts(waiting))
        loads = load_batch.expand(batch_id=waiting)
        chunks >> loads >> report_batches() >> build_quality_reports()
        [chunks, loads] >> fail_run_if_a_batch_failed()

    return ingest()


_parsing = get_parsing_context().dag_id
for _contract in tasks.catalog_at_parse_time().values():
    if _parsing in (None, f"ingest_{_contract.id}"):
        globals()[f"ingest_{_contract.id}"] = build_ingest_dag(_contract)
