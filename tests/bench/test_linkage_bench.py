"""``make bench-linkage`` at a small size: it runs, scores against the labels and reports the targets.

Measures nothing: the figures come from ``make bench-linkage`` at 1,000,000 records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "linkage_bench.py"
RECORDS = 4000


def test_bench_links_scores_and_reports_the_targets(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--records", str(RECORDS), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    [out] = tmp_path.glob("linkage-*.json")
    result = json.loads(out.read_text())
    assert sum(result["records"].values()) == RECORDS and result["true_pairs"] == RECORDS // 4
    link = result["link"]
    assert link["precision"] >= 0.99 and link["recall"] >= 0.95
    assert link["true_pairs_found"] <= link["pairs"] and 0 < link["peak_rss_mb"] < 4096
    seconds = link["seconds"]
    assert seconds["prepare"] + seconds["train"] + seconds["predict"] <= seconds["total"] + 0.05
    assert result["baseline_exact_join"]["recall"] < link["recall"]
    assert set(result["targets"]) == {"precision >= 0.99", "recall >= 0.95", "link < 60 s (Splink's figure)"}
    assert "around a minute" in done.stdout and "PASS  precision >= 0.99" in done.stdout
