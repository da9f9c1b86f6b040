"""Benchmark of the native CeleryExecutor stack (``make bench-distributed``): the day's drops
with one worker and with two, and what the scheduler adds to each task.

1. Starts the stack of ``make test-distributed`` (tests/distributed/stack.py: api-server,
   scheduler, dag-processor, triggerer, two Celery workers, a redis-server broker and moto's
   S3 server, fresh PostgreSQL databases) and runs one day unmeasured (it unpauses the DAGs).
2. ``--rounds`` times: the same day with one worker (worker-b stopped), then with two.
3. Per day: the wall time from the first ingest trigger until every DAG run (publishers
   included) has finished; from the metadata DB's task instances: how many ran, the sum
   of their run times (work), scheduled -> queued (the scheduler's decision) and
   queued -> running (broker, a free worker slot, the worker's fork and the task's start).

The figures go to stdout and bench/out/distributed.json, with the machine's load average
before and after (2 cores shared with other work: say so beside any figure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(key, value)

import psycopg  # noqa: E402

from jinshu.catalog import load_catalog  # noqa: E402
from jinshu.settings import DEFAULT_CATALOG_DIR  # noqa: E402
from tests.distributed.day import run_day  # noqa: E402
from tests.distributed.stack import Stack  # noqa: E402

DAY_DAGS = ["record_consents", "publish_exchange", "publish_open_data"]


def task_timings(stack: Stack, since: str) -> dict:
    """Task instances that started after ``since``: count, work and the scheduler's delays."""
    with psycopg.connect(stack.metadata_url) as conn:
        rows = conn.execute(
            "SELECT scheduled_dttm, queued_dttm, start_date, end_date, hostname FROM task_instance"
            " WHERE start_date >= %s AND end_date IS NOT NULL", (since,)).fetchall()
    decide = [(q - s).total_seconds() for s, q, _, _, _ in rows if s and q]
    pickup = [(r - q).total_seconds() for _, q, r, _, _ in rows if q and r]
    work = [(e - r).total_seconds() for _, _, r, e, _ in rows if r and e]
    hosts = sorted({h for *_, h in rows if h})

    def spread(values: list[float]) -> dict:
        if not values:
            return {}
        ordered = sorted(values)
        return {"median": round(statistics.median(ordered), 2),
                "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
                "min": round(ordered[0], 2), "max": round(ordered[-1], 2)}

    return {"tasks": len(rows), "work_s": round(sum(work), 1), "hosts": hosts,
            "scheduled_to_queued_s": spread(decide), "queued_to_running_s": spread(pickup)}


def measured_day(stack: Stack, contracts, workers: int) -> dict:
    from datetime import UTC, datetime

    worker_b = stack.services["worker-b"]
    if workers == 1 and worker_b.alive():
        worker_b.stop()
    if workers == 2 and not worker_b.alive():
        since = worker_b.log.stat().st_size
        worker_b.start()
        worker_b.wait_for_line(" ready.", 240, since=since)
    load = os.getloadavg()[0]
    since = datetime.now(UTC).isoformat()
    day = run_day(stack, contracts)
    failed = [r["dag_id"] for r in day.runs if r["state"] != "success"]
    return {"workers": workers, "wall_s": round(day.seconds, 1), "failed_runs": failed,
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            **task_timings(stack, since)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    contracts = load_catalog(DEFAULT_CATALOG_DIR)
    stack = Stack(Path(tempfile.mkdtemp(prefix="jinshu-bench-dist-")), workers=2)
    results = []
    try:
        started = time.monotonic()
        stack.start()
        stack.wait_for_dags([f"ingest_{c}" for c in contracts] + DAY_DAGS)
        print(f"stack ready in {time.monotonic() - started:.0f} s; warm-up day", flush=True)
        run_day(stack, contracts)
        for _ in range(args.rounds):
            for workers in (1, 2):
                results.append(measured_day(stack, contracts, workers))
                print(json.dumps(results[-1]), flush=True)
    finally:
        stack.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distributed.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'workers':>7} {'wall s':>7} {'tasks':>5} {'work s':>7} {'queued->running med/p90':>24}"
          f" {'scheduled->queued med':>22} {'load':>10}")
    for r in results:
        pickup, decide = r["queued_to_running_s"], r["scheduled_to_queued_s"]
        print(f"{r['workers']:>7} {r['wall_s']:>7} {r['tasks']:>5} {r['work_s']:>7} "
              f"{pickup.get('median', '-'):>11}/{pickup.get('p90', '-'):<12} "
              f"{decide.get('median', '-'):>22} {r['load_before']:>4}-{r['load_after']:<5}")
    return 1 if any(r["failed_runs"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
