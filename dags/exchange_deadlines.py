"""
### Flag exchange requests that missed their deadline

Hourly. A request for a dataset must be answered within its working-day
deadline (2 for an unconditional compliance review, 5 for conditional data on
the platform, 10 when it must be published first; weekends and
`JINSHU_HOLIDAYS` skipped). A pending request past its deadline is escalated
once: an `exchange_overdue` audit entry, and `jinshu report exchange` shows it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from jinshu import tasks


@dag(
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["exchange", "governance"],
    doc_md=__doc__,
)
def exchange_deadlines():
    @task
    def flag_overdue_requests() -> list[int]:
        return tasks.flag_overdue_exchange_requests()

    flag_overdue_requests()


exchange_deadlines()

if __name__ == "__main__":
    exchange_deadlines().test()
