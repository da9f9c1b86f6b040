"""``make bench-repeat`` at a small size: it runs, and the detection finds exactly what it planted.

Measures nothing: the speed figures come from ``make bench-repeat`` at 1,000,000 subjects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "repeat_bench.py"


def test_bench_finds_the_planted_repeats_and_times_both_sides(pg_server, tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH), "--subjects", "4000", "--rounds", "1",
         "--database", f"jinshu_bench_repeat_smoke_{uuid.uuid4().hex[:8]}", "--out", str(tmp_path)],
        env=os.environ | {"JINSHU_BENCH_PG_URL": pg_server}, capture_output=True, text=True,
        timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    [out] = tmp_path.glob("repeat-*.json")
    result = json.loads(out.read_text())
    assert result["counts_as_planted"] is True
    assert result["counts"]["social_insurance_enrollment/person.name"] == [4000, 2800, 28]
    assert result["counts"]["tax_credit_rating/org.name"] == [4000, 3200, 80]
    assert result["baseline_rows_joined"] == 2800
    assert "Hash Join" in " ".join(result["plans"]["baseline"])
    assert result["median_detection"] > 0 and result["median_baseline"] > 0
    assert "ratio" in done.stdout and "target <= 5x" in done.stdout
