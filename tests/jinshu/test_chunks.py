"""A file ingested in chunks ends exactly as the same file ingested whole (SQLite and
PostgreSQL): ledger, stored records, quarantine, duplicates, scope violations; a load killed
midway leaves nothing and its retry gives the same; repeats and natural-key clashes that
span chunks are found.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from jinshu import pipeline
from jinshu.dev.generate import generate_frame
from jinshu.ingest import stages
from jinshu.store.engine import engine_for
from jinshu.store.tables import duplicates, quality_results, quarantine, scope_violations
from jinshu.store.workspace import Workspace
from tests.helpers import (
    drop,
    fresh_database,
    ingest_file,
    make_settings,
    original_of,
    outcome_of,
    provision_keys,
    stored_records,
)

CHUNK_ROWS = 5
EARLIER = "earlier.csv"
FILE = "province.csv"


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


def extract(household) -> tuple[bytes, bytes, dict[str, int]]:
    """An earlier file, and a file whose repeats and clashes span chunks of CHUNK_ROWS
    records; the file's row of each planted case (the header is row 1)."""
    frame = generate_frame(household, 40, seed=3)
    titles = [f.title for f in household.fields]
    rows = [list(r) for r in frame.astype(object).values.tolist()]

    def variant(row: list[str], name: str) -> list[str]:
        return [name if i == 1 else v for i, v in enumerate(row)]

    earlier = [rows[30], rows[31]]
    bad_check = rows[8][:]
    bad_check[0] = bad_check[0][:-1] + ("0" if bad_check[0][-1] != "0" else "1")
    newline = rows[9][:]
    newline[6] = "山西省太原市\n小店区, 坞城路1号"
    body = [
        rows[0], rows[1], rows[2],
        rows[3], rows[3],  # 5, 6: a record whose key clashes in a later chunk, twice
        rows[4], rows[11],  # 8: a key also sent twice with other values in one later chunk
        rows[1],  # 9: the twin of row 3, in another chunk
        rows[5], bad_check, newline, rows[12],
        rows[30],  # 14: stored by the earlier batch
        variant(rows[31], "改名"),  # 15: a new version of a record of the earlier batch
        variant(rows[3], "另一人"),  # 16: row 5's key with other values
        rows[13], rows[14], rows[1],  # 19: row 3's record a third time
        variant(rows[11], "甲"), variant(rows[11], "乙"),  # 20, 21: a clash within one chunk
        *rows[15:22],
    ]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*titles, "备注"])  # an undeclared column
    for i, row in enumerate(body):
        writer.writerow([*row, f"note {i}"])
    lines = text.getvalue().split("\n")
    lines.insert(25, "only,two")  # a ragged row (row 25 as the sender counts)
    data = "\n".join(lines).encode()
    header = ",".join(titles) + "\n"
    earlier_data = (header + "".join(",".join(r) + "\n" for r in earlier)).encode()
    return earlier_data, data, {"twin": 9, "first": 3, "third": 19, "clash_early": 5,
                                "clash_repeat": 6, "clash_late": 16, "key_early": 8,
                                "clash_a": 20, "clash_b": 21}


@pytest.fixture(params=["sqlite", "postgres"])
def pair(request, tmp_path):
    """Two platforms with the same keys: one ingests files whole, one in chunks."""
    with contextlib.ExitStack() as stack:
        urls = [None, None]
        if request.param == "postgres":
            server = request.getfixturevalue("pg_server")
            urls = [stack.enter_context(fresh_database(server)) for _ in range(2)]
        whole = make_settings(tmp_path / "whole", urls[0])
        provision_keys(whole)
        shutil.copytree(whole.keys_dir, tmp_path / "chunked" / "keys")
        chunked = make_settings(tmp_path / "chunked", urls[1], chunk_rows=CHUNK_ROWS)
        yield whole, chunked


def snapshot(settings, household, key: str) -> dict:
    """What ingesting the file at ``key`` left, without ids, times or ciphertexts."""
    outcome = outcome_of(settings, key)
    batch = outcome.batch
    with engine_for(settings.store_url).connect() as conn:
        dups = conn.execute(sa.select(duplicates.c.source_row, duplicates.c.record_hash)
                            .where(duplicates.c.batch_id == batch.batch_id)).all()
        scope = conn.execute(sa.select(scope_violations.c.column_header,
                                       scope_violations.c.non_empty_values)
                             .where(scope_violations.c.batch_id == batch.batch_id)).all()
        quality = conn.execute(sa.select(quality_results.c.expectation, quality_results.c.success)
                               .where(quality_results.c.batch_id == batch.batch_id)).all()
    lineage = {"_batch_id", "_acquired_at", "_valid_from"}  # times; "_valid_to" kept as set or not
    return {
        "ledger": (batch.status, batch.rows_in, batch.stored, batch.duplicates, batch.quarantined,
                   batch.reason, batch.encoding),
        "stored": sorted(tuple(sorted((k, str(v if k != "_valid_to" else v is None))
                                      for k, v in vars(r).items() if k not in lineage))
                         for r in stored_records(settings, household)),
        "quarantine": sorted((q.source_row, q.column_name, q.rule, q.message,
                              original_of(settings, household, q)) for q in outcome.quarantine),
        "duplicates": sorted(map(tuple, dups)),
        "scope": sorted(map(tuple, scope)),
        "quality": sorted(map(tuple, quality)),
    }


def ingest_both(pair, contracts, household) -> tuple[dict, dict, dict[str, int]]:
    earlier, data, rows = extract(household)
    for settings in pair:
        ingest_file(settings, contracts, household, EARLIER, earlier)
    whole, chunked = pair
    ingest_file(whole, contracts, household, FILE, data)
    key = drop(chunked, household, FILE, data)
    [batch_id] = pipeline.discover(chunked, household, contracts)
    assert len(pipeline.split(chunked, household, batch_id)) >= 5  # really in several chunks
    pipeline.run_batch(chunked, household, batch_id)
    return (snapshot(whole, household, household.landing_prefix + FILE),
            snapshot(chunked, household, key), rows)


def test_a_file_in_chunks_ends_exactly_as_the_file_whole(pair, contracts, household):
    whole, chunked, rows = ingest_both(pair, contracts, household)
    assert chunked == whole
    status, rows_in, stored, dups, quarantined, _, _ = whole["ledger"]
    assert (status, rows_in) == ("loaded", 28) and rows_in == stored + dups + quarantined
    clashing = {rows[k] for k in ("clash_early", "clash_repeat", "clash_late", "key_early",
                                  "clash_a", "clash_b")}
    assert {q[0] for q in whole["quarantine"] if q[2] == "natural_key_conflict"} == clashing
    assert whole["scope"] == [("备注", 27)]  # the ragged row's note is not counted


def test_repeats_and_clashes_across_chunks_are_found(pair, contracts, household):
    _, chunked, rows = ingest_both(pair, contracts, household)
    assert rows["twin"] - rows["first"] > CHUNK_ROWS and rows["clash_late"] - rows["clash_early"] > CHUNK_ROWS
    by_row = dict(chunked["duplicates"])
    twin_hash = next(v for k, v in by_row.items() if k == rows["twin"])
    assert by_row[rows["third"]] == twin_hash  # both point at the first occurrence's hash
    stored = [dict(r) for r in chunked["stored"]]
    first = [r for r in stored if r["_record_hash"] == twin_hash]
    assert [r["_source_row"] for r in first] == [str(rows["first"])]
    conflict = next(q for q in chunked["quarantine"] if q[0] == rows["clash_late"])
    assert conflict[2] == "natural_key_conflict" and "appears with different values" in conflict[3]
    assert f"row {rows['clash_late']}" in conflict[3] and "Fix:" in conflict[3]


KILLED_LOAD = """
import os, signal, sys
from jinshu.catalog import load_catalog
from jinshu.govern import audit
from jinshu.ingest import load, stages
from jinshu.settings import get_settings
settings = get_settings()
audit.use_settings(settings)
contract = load_catalog(settings.catalog_dir)["household_registration"]
real = load.store_records
def dies_on_the_second_partition(conn, contract, batch_id, partitions, acquired_at, now):
    def killed_midway():
        for i, records in enumerate(partitions):
            if i == 1:
                os.kill(os.getpid(), signal.SIGKILL)  # as a worker killed mid-load
            yield records
    return real(conn, contract, batch_id, killed_midway(), acquired_at, now)
load.store_records = dies_on_the_second_partition
stages.load(settings, contract, sys.argv[1])
"""


def test_a_load_killed_midway_leaves_nothing_and_its_retry_changes_nothing(
        pair, contracts, household):
    whole, chunked = pair
    earlier, data, _ = extract(household)
    for settings in pair:
        ingest_file(settings, contracts, household, EARLIER, earlier)
    ingest_file(whole, contracts, household, FILE, data)
    key = drop(chunked, household, FILE, data)
    [batch_id] = pipeline.discover(chunked, household, contracts)
    for stage in pipeline.CHUNK_STAGES:
        stage.run(chunked, household, batch_id)
    before = stored_records(chunked, household)
    env = {**os.environ, "JINSHU_HOME": str(chunked.home), "JINSHU_STORE_URL": chunked.store_url,
           "JINSHU_CHUNK_ROWS": str(CHUNK_ROWS)}
    killed = subprocess.run([sys.executable, "-c", KILLED_LOAD, batch_id], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert outcome_of(chunked, key).batch.status == "received"  # nothing of it committed
    assert stored_records(chunked, household) == before
    with engine_for(chunked.store_url).connect() as conn:
        for table in (duplicates, quarantine):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.batch_id == batch_id)).scalar() == 0
    assert Workspace.of(chunked, batch_id).exists("manifest.json")  # its chunks wait for the retry
    stages.load(chunked, household, batch_id)
    assert snapshot(chunked, household, key) == snapshot(whole, household,
                                                         household.landing_prefix + FILE)
    assert stages.load(chunked, household, batch_id).stored == outcome_of(chunked, key).batch.stored
    assert not (chunked.work_dir / batch_id).exists()


def test_the_load_refuses_a_file_whose_chunk_did_not_finish(tmp_path, contracts, household):
    settings = make_settings(tmp_path / "home", chunk_rows=CHUNK_ROWS)
    _, data, _ = extract(household)
    key = drop(settings, household, FILE, data)
    [batch_id] = pipeline.discover(settings, household, contracts)
    refs = pipeline.split(settings, household, batch_id)
    for stage in pipeline.CHUNK_STAGES:
        for ref in refs[:-1]:  # the last chunk's worker died
            stage.run(settings, household, ref)
    with pytest.raises(pipeline.ChunksUnfinished, match="has not finished its stages"):
        stages.load(settings, household, batch_id)
    assert outcome_of(settings, key).batch.status == "received"
    assert stored_records(settings, household) == []
    for stage in pipeline.CHUNK_STAGES:  # the chunk retried alone
        stage.run(settings, household, refs[-1])
    assert stages.load(settings, household, batch_id).rows_in == 28


def test_a_critical_failure_in_one_chunk_quarantines_the_whole_file(tmp_path, contracts):
    enterprises = contracts["enterprise_registration"]
    settings = make_settings(tmp_path / "home", chunk_rows=CHUNK_ROWS)
    frame = generate_frame(enterprises, 23, seed=4)
    frame.loc[[17], "established_on"] = "2030-01-01"  # in the fourth chunk
    from jinshu.dev.generate import render_extract

    key = drop(settings, enterprises, *render_extract(enterprises, frame, seed=4))
    [batch_id] = pipeline.discover(settings, enterprises, contracts)
    refs = pipeline.split(settings, enterprises, batch_id)
    for stage in pipeline.CHUNK_STAGES[:pipeline.CHUNK_STAGES.index(pipeline.BY_NAME["quality"])]:
        stage.run(settings, enterprises, batch_id)
    quality = pipeline.BY_NAME["quality"].run
    quality(settings, enterprises, refs[0])  # passes
    with pytest.raises(pipeline.QualityFailed, match=r"established_on\.plausible"):
        quality(settings, enterprises, refs[3])
    with pytest.raises(pipeline.BatchClosed):  # the other chunks find the file settled
        quality(settings, enterprises, refs[1])
    batch = outcome_of(settings, key).batch
    assert (batch.status, batch.rows_in, batch.quarantined, batch.stored) == ("quarantined", 23, 23, 0)
    assert not (settings.work_dir / batch_id).exists()
