"""``make bench`` at a small size: it runs, accounts for every row, and times honestly.

Measures nothing: the speed figures come from ``make bench`` at 1,000,000 rows.
"""

from __future__ import annotations

import json

from tests.bench.runner import run_bench

ROWS = 3000


def test_bench_runs_counts_every_row_and_times_the_branch_on_the_wall_clock(pg_server, tmp_path):
    done = run_bench("ingest_bench.py", ROWS, "jinshu_bench_smoke", tmp_path, pg_server)
    [out] = tmp_path.glob("ingest-*.json")
    result = json.loads(out.read_text())
    counts = result["ingest"]["counts"]
    assert counts["rows_in"] == ROWS == counts["stored"] + counts["duplicates"] + counts["quarantined"]
    assert result["table_count"] == counts["stored"] > 0
    assert result["copy_rows"] == result["pandas_rows"] == ROWS
    seconds = result["ingest"]["seconds"]
    assert set(seconds) == {"discover", "read", "conform", "consent", "check", "dedup",
                            "import GX", "quality", "protect", "load"}
    in_turn = sum(v for k, v in seconds.items() if k not in {"import GX", "quality", "protect"})
    branch = max(seconds["import GX"] + seconds["quality"], seconds["protect"])
    assert in_turn + branch <= result["end_to_end_seconds"] < sum(seconds.values()) + 1
    assert 0 < result["peak_rss_mb"] < 2048
    assert {"end_to_end_over_copy", "to_sql_over_end_to_end", "peak_rss_mb"} == set(result["targets"])
    assert "time the targets allow" in done.stdout
