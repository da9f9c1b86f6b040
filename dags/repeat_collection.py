"""
### Detect repeated collection across departments (一数一源)

Runs whenever a dataset holding a catalog concept (`include/catalog/concepts.yaml`)
updates its Asset. `detect_repeat_collection` lists, from the catalog, every dataset
that holds a concept another dataset is the authority for, then measures in the
central store, by keyed subject pseudonym, how many subjects have that concept
collected twice and how many of those carry a value that conflicts with the
authority's; the run and its counts are stored with its time (the trend) and
audited. `send_findings_back` opens a notice to each collecting department (or
closes it once the dataset takes the concept from its authority);
`report_repeat_collection` logs the report `jinshu report repeat` prints.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from jinshu import tasks

HOLDERS = tasks.concept_holders(tasks.catalog_at_parse_time())


@dag(
    schedule=tasks.any_central_asset(HOLDERS),  # None (manual) when no dataset holds a concept
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["governance", "repeat-collection"],
    doc_md=__doc__,
)
def repeat_collection():
    @task
    def detect_repeat_collection() -> str:
        return tasks.detect_repeat_collection()

    @task
    def send_findings_back(detection: str) -> dict[str, int]:
        return tasks.send_repeat_findings_back(detection)

    @task
    def report_repeat_collection(detection: str) -> str:
        return tasks.report_repeat_collection(detection)

    detection = detect_repeat_collection()  # the detection run's id
    send_findings_back(detection) >> report_repeat_collection(detection)


repeat_collection()

if __name__ == "__main__":
    repeat_collection().test()
