"""Airflow's cluster policy for the native harness only (on its processes' PYTHONPATH).

A retried task waits 5 s instead of the DAGs' minute (jinshu.tasks.DEFAULT_ARGS), so
a fault's recovery fits a test's time; retries, their number and everything else
are the DAGs' own.
"""

from __future__ import annotations

from datetime import timedelta

RETRY_DELAY = timedelta(seconds=5)


def task_policy(task) -> None:
    task.retry_delay = RETRY_DELAY
