"""``make bench`` at a small size: it runs, accounts for every row, and times honestly.

Measures nothing: the speed figures come from ``make bench`` at 1,000,000 rows and more.
"""

from __future__ import annotations

import json

from tests.bench.runner import run_bench

ROWS = 3000
CHUNK_ROWS = 700


def test_bench_runs_in_chunks_counts_every_row_and_times_the_whole_on_the_wall_clock(pg_server,
                                                                                     tmp_path):
    done = run_bench("ingest_bench.py", ROWS, "jinshu_bench_smoke", tmp_path, pg_server,
                     "--chunk-rows", str(CHUNK_ROWS))
    [out] = tmp_path.glob("ingest-*.json")
    [size] = json.loads(out.read_text())["sizes"]
    ingest = size["ingest"]
    counts = ingest["counts"]
    assert counts["rows_in"] == ROWS == counts["stored"] + counts["duplicates"] + counts["quarantined"]
    assert size["table_count"] == counts["stored"] > 0 and size["copy_rows"] == ROWS
    assert ingest["chunks"] == -(-ROWS // CHUNK_ROWS) and ingest["workers"] == 2
    seconds = ingest["seconds"]
    assert set(seconds) == {"discover", "split", "import GX", "read", "conform", "consent", "check",
                            "dedup", "quality", "protect", "chunk stages (wall clock)", "load"}
    serial = seconds["discover"] + seconds["split"] + seconds["import GX"] + seconds["load"]
    in_chunks = sum(seconds[s] for s in ("read", "conform", "consent", "check", "dedup",
                                         "quality", "protect"))
    assert in_chunks / 2 <= seconds["chunk stages (wall clock)"] * 1.05  # two workers at most
    assert serial + seconds["chunk stages (wall clock)"] <= ingest["end_to_end"]
    assert 0 < size["peak_mb"] < 2048
    exchange = size["exchange"]
    assert exchange["rows"] == counts["stored"] and exchange["changed"] == -(-ROWS // 100)
    assert exchange["written"] == exchange["changed"]  # only what changed is written again
    assert "exchange_incremental_over_full" in done.stdout and "end to end / COPY" in done.stdout
