"""The Celery workers' configuration: Airflow's own, read once what every task needs is imported.

Airflow's Celery worker forks each task from its pool processes, and the pool is
forked from the worker once this module is imported
(``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=jinshu.worker.CELERY_CONFIG``, in
.env.example). Imported here, pandas, pyarrow, SQLAlchemy, boto3, jinshu's
stages and publishers and Great Expectations are in every task process from
its start, instead of being imported again by each of the day's tasks (about
1 s of CPU each, 2-3 s more for the tasks that run GX). Nothing here opens a
connection or starts a thread before the fork (tests/jinshu/test_worker.py).
"""

from __future__ import annotations

import great_expectations  # noqa: F401  (validate_quality, build_quality_reports)
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from jinshu import pipeline  # noqa: F401  (every ingest stage, with pandas, pyarrow, boto3)
from jinshu.collect import consent_intake  # noqa: F401
from jinshu.govern import scorecard  # noqa: F401
from jinshu.open import publisher  # noqa: F401
from jinshu.share import exchange  # noqa: F401

CELERY_CONFIG = DEFAULT_CELERY_CONFIG
