"""``make bench-open`` at a small size: it runs, publishes k-anonymous microdata and measures
its baseline on the same rows. Measures nothing: the figures come from 1,000,000 rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "open_bench.py"
ROWS = 2000


def test_open_bench_publishes_k_anonymous_files_and_times_the_baseline(pg_server, tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH), "--rows", str(ROWS),
         "--database", f"jinshu_bench_open_{uuid.uuid4().hex[:8]}", "--out", str(tmp_path)],
        env=os.environ | {"JINSHU_BENCH_PG_URL": pg_server}, capture_output=True, text=True,
        timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
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
