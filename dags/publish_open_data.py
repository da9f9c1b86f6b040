"""
### Publish open data: de-identified, standardized, machine-readable, free

Daily at 02:00 and whenever an open dataset's ingest updates its Asset. For
each dataset whose open class is `open`, writes CSV, JSON and Parquet plus a
Frictionless `datapackage.json` (source department, acquisition date) to the
open-data location, then refreshes the DCAT `catalog.json`. Personal fields
are removed (or masked where the law already disclosed them) and rare
quasi-identifier combinations are suppressed (k-anonymity). A dataset under
an open incident is skipped (its withdrawn product stays withdrawn); a leak
guard hit fails its task and opens an incident. The catalog lists the
datasets that have a product.
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
    def publish_dataset(dataset_id: str) -> int:
        return tasks.publish_open_dataset(dataset_id)

    @task(trigger_rule="none_failed")  # a suspended (skipped) dataset does not stop it
    def write_catalog() -> str:
        return tasks.write_open_catalog()

    publish_dataset.expand(dataset_id=[c.id for c in OPEN]) >> write_catalog()


publish_open_data()
