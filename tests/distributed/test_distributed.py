"""The CeleryExecutor stack, run natively: a day of drops on two workers, then the same day
with a worker killed, the scheduler restarted and the broker gone for 30 s.

Each faulty day must leave exactly what the undisturbed day left (counts and content
checksums of every table of the central store, the open-data files and the stage
bucket; tests/distributed/fingerprint.py says what is left out and why): a record lost
or stored twice, a batch quarantined differently or a publication missing fails it.
"""

from __future__ import annotations

import pytest

from tests.distributed import faults
from tests.distributed.day import Day, harness_settings, run_day
from tests.distributed.stack import Stack

pytestmark = pytest.mark.distributed
WORKERS = ("worker-a", "worker-b")


def assert_same_day(day: Day, reference: Day) -> None:
    failed = [(r["dag_id"], r["run_type"], r["state"]) for r in day.runs if r["state"] != "success"]
    assert failed == [], f"DAG runs not successful: {failed}"
    assert day.differences(reference) == []
    assert day.compared() == reference.compared()
    assert day.chain_intact


def hosts_of(stack: Stack, day: Day) -> dict[tuple[str, str], set[str]]:
    """(DAG, run) -> the hosts its task instances ran on."""
    ran: dict[tuple[str, str], set[str]] = {}
    for run in day.runs:
        path = f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances"
        for ti in stack.call("GET", path, params={"limit": 1000})["task_instances"]:
            if ti.get("hostname"):
                ran.setdefault((run["dag_id"], run["dag_run_id"]), set()).add(ti["hostname"])
    return ran


# --- the undisturbed day ---------------------------------------------------------------------


def test_every_run_of_the_day_succeeds_and_every_file_is_one_batch(reference, contracts):
    assert [r for r in reference.runs if r["state"] != "success"] == []
    ingests = {r["dag_id"] for r in reference.runs if r["dag_id"].startswith("ingest_")}
    assert ingests == {f"ingest_{c}" for c in contracts}
    assert {"publish_exchange", "publish_open_data", "record_consents"} <= {
        r["dag_id"] for r in reference.runs}
    assert reference.parts["batches"].rows == len(contracts) + 1 + 2  # + the resent file, consents
    for contract in contracts.values():
        assert reference.parts[contract.table].rows > 100
        if contract.is_shareable:
            assert reference.parts[f"ex_{contract.id}"].rows == reference.parts[contract.table].rows
    assert reference.chain_intact


def test_the_batches_tasks_ran_on_both_workers_sharing_no_folder(stack, reference):
    ran = hosts_of(stack, reference)
    ingests = {run: hosts for run, hosts in ran.items() if run[0].startswith("ingest_")}
    assert set().union(*ran.values()) >= set(WORKERS)
    assert any(set(WORKERS) <= hosts for hosts in ingests.values()), ingests  # one run, two hosts
    for worker in WORKERS:  # nothing a later task reads was left on a worker's own disk
        home = stack.root / worker / "jinshu"
        assert not (home / "work").exists() or list((home / "work").rglob("*")) == []
        assert not (home / "quality").exists()
    assert reference.stage_left == []  # every batch closed: its stage files are gone
    assert "scorecard.html" in reference.quality_keys


def test_the_harness_reads_the_outputs_with_the_deployments_own_keys(stack, reference, contracts):
    settings = harness_settings(stack)
    assert settings.store_url.startswith("postgresql") and not settings.generates_keys
    household = contracts["household_registration"]
    assert any('"id_number": "' in row for row in reference.rows[household.table])  # decrypted


# --- faults ----------------------------------------------------------------------------------


def test_a_worker_killed_during_an_ingest_task_loses_and_duplicates_nothing(
        stack, contracts, reference, record_day):
    day = run_day(stack, contracts, faults.kill_a_worker)
    record_day(day)
    killed = day.disturbance["task"]
    assert killed["hostname"] in WORKERS
    again = faults.final_try(stack, killed)
    assert again["state"] in {"success", "skipped"} and again["try_number"] > killed["try_number"]
    assert_same_day(day, reference)


def test_a_scheduler_restarted_mid_run_loses_and_duplicates_nothing(
        stack, contracts, reference, record_day):
    day = run_day(stack, contracts, faults.restart_the_scheduler)
    record_day(day)
    assert day.disturbance["restarts"] >= 1
    assert stack.services["scheduler"].alive()
    assert_same_day(day, reference)


def test_runs_resume_after_the_broker_was_gone_for_30_seconds(
        stack, contracts, reference, record_day):
    day = run_day(stack, contracts, faults.stop_the_broker)
    record_day(day)
    assert day.disturbance["down_s"] >= faults.BROKER_DOWN_SECONDS
    assert_same_day(day, reference)
