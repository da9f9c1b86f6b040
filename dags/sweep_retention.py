"""
### Sweep retention: remove the copies whose retention period is over

Daily at 03:30 (Asia/Shanghai). Each contract's `retention:` block says how
long the platform keeps what it holds outside the central store (defaults in
brackets): raw extracts in the landing area after their batch closed (30
days), sealed copies of whole quarantined files under `_quarantine/` (180
days), and a batch's stage files while the batch is not closed (2 days; a
closed batch's leftovers go at once). `sweep_expired` removes them from local
folders and S3 alike, and audits the sweep with counts per dataset and batch
ids, never a file name. A file the ledger has not recorded is never touched.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronTriggerTimetable, dag, task

from jinshu import tasks


@dag(
    schedule=CronTriggerTimetable("30 3 * * *", timezone="Asia/Shanghai"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["governance", "retention"],
    doc_md=__doc__,
)
def sweep_retention():
    @task
    def sweep_expired() -> dict[str, int]:
        return tasks.sweep_retention()

    sweep_expired()


sweep_retention()
