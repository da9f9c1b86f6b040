"""
### Publish open data: anonymized, standardized, machine-readable, free

Daily at 02:00 and whenever an open dataset's ingest updates its Asset. For each
dataset whose open class is `open`, livelihood datasets first (民生优先), a new
version: CSV, JSON and Parquet, a Frictionless `datapackage.json` and the
provenance stamp under `<dataset>/<version>/`, then the `latest` pointer and the
dataset's page. Then the DCAT-AP catalog (`catalog.jsonld`, `catalog.ttl`) and the
catalog page `index.html`. Personal fields are removed, quasi-identifiers
generalized and rare combinations suppressed (k-anonymity); aggregates carry
cell-key noise. A dataset under an open incident is skipped (its withdrawn
product stays withdrawn); a leak guard hit fails its task, opens an incident and
leaves `latest` where it was. A failed publication fails the run after the
others and the catalog are done.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from jinshu import tasks

OPEN = [c for c in tasks.catalog_at_parse_time().values() if c.is_open]
DAILY = CronTriggerTimetable("0 2 * * *", timezone="Asia/Shanghai")
UPDATED = tasks.any_central_asset(OPEN)  # None with no open dataset: daily only


@dag(
    schedule=AssetOrTimeSchedule(timetable=DAILY, assets=UPDATED) if UPDATED is not None else DAILY,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["publish", "open-data"],
    doc_md=__doc__,
)
def publish_open_data():
    @task(map_index_template="{{ task.op_kwargs['dataset_id'] }}")
    def publish_livelihood_dataset(dataset_id: str) -> int:
        return tasks.publish_open_dataset(dataset_id)

    @task(map_index_template="{{ task.op_kwargs['dataset_id'] }}", trigger_rule="all_done")
    def publish_dataset(dataset_id: str) -> int:  # after the livelihood ones, whatever they did
        return tasks.publish_open_dataset(dataset_id)

    @task(trigger_rule="all_done")  # a suspended or failed dataset keeps its current version
    def write_catalog() -> str:
        return tasks.write_open_catalog()

    @task(trigger_rule="one_failed")
    def fail_run_if_a_publication_failed() -> None:
        tasks.fail_run_if_a_publication_failed()

    first = publish_livelihood_dataset.expand(dataset_id=tasks.open_datasets_in_order(livelihood=True))
    then = publish_dataset.expand(dataset_id=tasks.open_datasets_in_order(livelihood=False))
    first >> then >> write_catalog()
    [first, then] >> fail_run_if_a_publication_failed()


publish_open_data()
