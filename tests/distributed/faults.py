"""The faults a test injects while the day's ingest runs; each returns what it did.

They find their moment generically (any running task of an ``ingest_`` DAG), never
by a task id: the ingest DAG's shape may change.
"""

from __future__ import annotations

import time

from tests.distributed.processes import wait_until
from tests.distributed.stack import Stack

BROKER_DOWN_SECONDS = 30


def running_ingest_task(stack: Stack, timeout: float = 300, mapped: bool = False) -> dict:
    """A task instance of an ``ingest_`` DAG in state running, with the host it runs on;
    ``mapped``: one of a batch's own tasks (mapped over the batches), whatever its id."""
    def found() -> dict | None:
        running = [ti for ti in stack.task_instances(state=["running"])
                   if ti["dag_id"].startswith("ingest_") and ti.get("hostname")
                   and (ti["map_index"] >= 0 or not mapped)]
        return running[0] if running else None
    return wait_until(found, timeout, "a running ingest task", every=0.3)


def task_key(ti: dict) -> dict:
    return {k: ti[k] for k in ("dag_id", "dag_run_id", "task_id", "map_index", "try_number",
                               "hostname")}


def kill_a_worker(stack: Stack) -> dict:
    """SIGKILL every process of the worker running an ingest task (the host is gone), then
    start it again, as a host that comes back. It picks a batch's own task, so that the
    retry has to find the batch's earlier stages in the stage bucket."""
    ti = running_ingest_task(stack, mapped=True)
    worker = stack.services[ti["hostname"]]
    worker.kill()
    killed_at = time.monotonic()
    since = worker.log.stat().st_size
    worker.start()
    worker.wait_for_line(" ready.", 240, since=since)
    return {"task": task_key(ti), "worker": worker.name,
            "back_after_s": round(time.monotonic() - killed_at, 1)}


def restart_the_scheduler(stack: Stack) -> dict:
    """SIGKILL the scheduler while an ingest task runs; start a new one."""
    ti = running_ingest_task(stack)
    scheduler = stack.services["scheduler"]
    scheduler.kill()
    time.sleep(2)
    scheduler.start()
    return {"task": task_key(ti), "restarts": scheduler.starts - 1}


def stop_the_broker(stack: Stack) -> dict:
    """Stop the broker while an ingest task runs; start it again, empty, 30 s later."""
    ti = running_ingest_task(stack)
    queued = len(stack.task_instances(state=["queued"]))
    broker = stack.services["broker"]
    broker.stop()
    stopped = time.monotonic()
    time.sleep(BROKER_DOWN_SECONDS)
    stack.start_broker()
    return {"task": task_key(ti), "queued_when_stopped": queued,
            "down_s": round(time.monotonic() - stopped, 1)}


def final_try(stack: Stack, task: dict) -> dict:
    """The task instance ``task`` names, as it ended."""
    tis = stack.call("GET", f"/dags/{task['dag_id']}/dagRuns/{task['dag_run_id']}/taskInstances",
                     params={"task_id": task["task_id"], "limit": 1000})["task_instances"]
    [ti] = [t for t in tis if t["map_index"] == task["map_index"]]
    return ti

