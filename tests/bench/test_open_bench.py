"""``make bench-open`` at a small size: it runs, publishes k-anonymous microdata and measures
its baseline on the same rows. Measures nothing: the figures come from 1,000,000 rows."""

from __future__ import annotations

import json

from tests.bench.runner import run_bench

ROWS = 2000


def test_open_bench_publishes_k_anonymous_files_and_times_the_baseline(pg_server, tmp_path):
    done = run_bench("open_bench.py", ROWS, "jinshu_bench_open", tmp_path, pg_server)
    [out] = tmp_path.glob("open-*.json")
    result = json.loads(out.read_text())
    assert result["baseline_rows"] == result["whole_table_rows"] == ROWS
    assert result["k_from_csv"] == result["package_k"] >= result["k_required"] == 5
    assert result["published_rows"] + result["suppressed_rows"] == ROWS
    assert set(result["files_bytes"]) == {"household_registration.csv", "household_registration.json",
                                          "household_registration.parquet", "datapackage.json",
                                          "provenance.json"}
    assert result["end_to_end_seconds"] >= result["publish_seconds"] > 0
    assert "total / baseline" in done.stdout
