"""Every DAG imports cleanly, follows the house conventions, and parses without I/O."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.models import DagBag

from jinshu import pipeline
from jinshu.catalog import load_catalog
from jinshu.settings import DEFAULT_CATALOG_DIR

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
CONTRACTS = load_catalog(DEFAULT_CATALOG_DIR)
EXPECTED = sorted([f"ingest_{c}" for c in CONTRACTS] + ["exchange_deadlines", "publish_exchange",
                                                        "publish_open_data", "record_consents",
                                                        "repeat_collection", "rotate_keys",
                                                        "sweep_retention"])


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_imports(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", EXPECTED)
def test_dag_follows_conventions(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags, "every DAG is tagged"
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert dag.catchup is False
    for task in dag.tasks:
        assert task.owner == "jinshu-platform", task.task_id
        assert task.retries >= 1, task.task_id


def scheduled_on(dag) -> set[str]:
    """URIs of the Assets whose updates trigger ``dag``."""
    return {asset.uri for asset in dag.timetable.asset_condition.objects}


def test_ingest_updates_the_asset_the_publishers_wait_for(dagbag):
    exchange = scheduled_on(dagbag.dags["publish_exchange"])
    open_data = scheduled_on(dagbag.dags["publish_open_data"])
    for contract in CONTRACTS.values():
        load = dagbag.dags[f"ingest_{contract.id}"].get_task(pipeline.LOAD.task_id)
        assert [o.uri for o in load.outlets] == [contract.asset_uri]
        assert (contract.asset_uri in exchange) == contract.is_shareable
        assert (contract.asset_uri in open_data) == contract.is_open


def test_repeat_detection_waits_for_every_dataset_that_holds_a_concept(dagbag):
    holders = {c.asset_uri for c in CONTRACTS.values() if any(f.concept for f in c.fields)}
    assert scheduled_on(dagbag.dags["repeat_collection"]) == holders
    assert "jinshu://central/vaccination_sites" not in holders  # no subject, no concept


@pytest.mark.parametrize("dataset_id", sorted(CONTRACTS))
def test_the_ingest_dag_runs_the_registry_stages_as_the_registry_orders_them(dagbag, dataset_id):
    """Chunk stages in one group mapped over the chunks; the load once per file, after every
    chunk's last stages, whatever became of them (it loads nothing while one is unfinished)."""
    dag = dagbag.dags[f"ingest_{dataset_id}"]
    group = {t.task_id.removeprefix("ingest_chunk."): t for t in dag.tasks
             if t.task_id.startswith("ingest_chunk.")}
    assert sorted(group) == sorted(stage.task_id for stage in pipeline.CHUNK_STAGES)
    assert all(stage.per_chunk for stage in pipeline.STAGES[:-1]) and not pipeline.LOAD.per_chunk
    for stage in pipeline.CHUNK_STAGES:
        upstream = {u.removeprefix("ingest_chunk.") for u in group[stage.task_id].upstream_task_ids}
        assert upstream == ({pipeline.BY_NAME[name].task_id for name in stage.after}
                            or {"split_extracts"}), stage.name
        assert f"`{stage.task_id}`" in dag.doc_md, f"the DAG's doc does not describe {stage.task_id}"
    load = dag.get_task(pipeline.LOAD.task_id)
    assert load.upstream_task_ids == {"discover_extracts", *(
        f"ingest_chunk.{pipeline.BY_NAME[name].task_id}" for name in pipeline.LOAD.after)}
    assert load.trigger_rule == "all_done" and f"`{load.task_id}`" in dag.doc_md
    assert dag.get_task("split_extracts").upstream_task_ids == {"discover_extracts"}


def parse_in_subprocess(env: dict[str, str], report: str) -> subprocess.CompletedProcess:
    """Parse the DAG folder in a fresh interpreter with sockets forbidden; ``report`` is
    Python run on ``bag`` after it asserted no import errors (its last line is the answer)."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise RuntimeError(f'network access while parsing DAGs: {args}')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from airflow.models import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_DIR)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        f"{report}\n"
    )
    return subprocess.run([sys.executable, "-c", script], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_parsing_touches_no_database_or_network(tmp_path):
    """Parse the DAG files with every jinshu endpoint unreachable and sockets forbidden."""
    env = {"JINSHU_HOME": str(tmp_path / "home"),
           "JINSHU_STORE_URL": "postgresql://nobody@192.0.2.1:1/none",
           "JINSHU_LANDING_URL": "s3://nowhere", "JINSHU_S3_ENDPOINT_URL": "http://192.0.2.1:1"}
    done = parse_in_subprocess(env, "print(len(bag.dags))")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(len(EXPECTED))
    assert not (tmp_path / "home").exists()  # no store, keys or work files created


def test_an_empty_catalog_leaves_the_publishers_on_time_or_manual_schedules(tmp_path):
    """No shareable or open dataset: nothing to wait for, and every DAG still parses."""
    (tmp_path / "catalog").mkdir()
    env = {"JINSHU_HOME": str(tmp_path / "home"), "JINSHU_CATALOG_DIR": str(tmp_path / "catalog")}
    done = parse_in_subprocess(env, "import json\nprint(json.dumps("
                               "{d: type(dag.timetable).__name__ for d, dag in bag.dags.items()}))")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "publish_exchange": "NullTimetable", "publish_open_data": "CronTriggerTimetable",
        "record_consents": "CronTriggerTimetable", "repeat_collection": "NullTimetable",
        "rotate_keys": "NullTimetable",
        "sweep_retention": "CronTriggerTimetable", "exchange_deadlines": "CronTriggerTimetable"}
