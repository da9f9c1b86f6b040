"""An ingest DAG run (``dag.test()``) takes a file through its stages in mapped chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.models import DagBag

from jinshu.dev.generate import generate_frame, render_extract
from jinshu.store.workspace import chunk_ref
from tests.helpers import drop, make_settings, outcome_of, stored_records

pytestmark = pytest.mark.xdist_group("airflow")  # one worker owns the shared Airflow DB
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "ingest.py"
CHUNK_ROWS = 4


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert not bag.import_errors
    return bag


def test_the_ingest_dag_maps_the_stages_over_chunks_and_loads_each_file_once(
        dagbag, tmp_path, monkeypatch, contracts):
    household = contracts["household_registration"]
    settings = make_settings(tmp_path / "home", chunk_rows=CHUNK_ROWS)
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.setenv("JINSHU_CHUNK_ROWS", str(CHUNK_ROWS))
    for name in ("JINSHU_STORE_URL", "JINSHU_LANDING_URL", "JINSHU_STAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    frame = generate_frame(household, 10, seed=5)
    frame.loc[9] = frame.loc[1]  # a repeat of row 3 in the third chunk
    big = drop(settings, household, *render_extract(household, frame, seed=5))
    small = drop(settings, household, "one-chunk.csv", render_extract(
        household, generate_frame(household, 3, seed=6), seed=6)[1])
    run = dagbag.dags["ingest_household_registration"].test()
    assert str(run.state) == "success"
    tis = run.get_task_instances()
    batches = {k: outcome_of(settings, k).batch for k in (big, small)}
    read = sorted(ti.rendered_map_index for ti in tis if ti.task_id == "ingest_chunk.read_extract")
    assert read == sorted([chunk_ref(batches[big].batch_id, i) for i in range(3)]
                          + [chunk_ref(batches[small].batch_id, 0)])
    for task_id in ("ingest_chunk.validate_quality", "ingest_chunk.protect_records"):
        assert [str(ti.state) for ti in tis if ti.task_id == task_id] == ["success"] * 4
    loads = [ti for ti in tis if ti.task_id == "load_batch"]
    assert sorted(ti.rendered_map_index for ti in loads) == sorted(b.batch_id for b in batches.values())
    assert {str(ti.state) for ti in loads} == {"success"}
    big_batch = batches[big]
    assert (big_batch.status, big_batch.rows_in, big_batch.stored, big_batch.duplicates) == (
        "loaded", 10, 9, 1)
    assert len(stored_records(settings, household)) == 9 + 3
    assert not any(settings.work_dir.iterdir())  # every chunk's stage files gone with the load
