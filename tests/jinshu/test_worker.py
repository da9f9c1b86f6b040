"""The Celery workers' configuration (jinshu.worker): Airflow's, with the task modules preloaded."""

from __future__ import annotations

import subprocess
import sys


def test_preloading_starts_no_thread_and_keeps_airflows_celery_config():
    """The worker forks its pool after importing jinshu.worker: a thread started by an import
    would be lost (or hold a lock) in every forked task process."""
    code = ("import threading, sys; import jinshu.worker as w; "
            "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG; "
            "print(threading.active_count(), w.CELERY_CONFIG is DEFAULT_CELERY_CONFIG, "
            "'pandas' in sys.modules and 'great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1].split() == ["1", "True", "True"]
