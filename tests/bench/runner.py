"""Run a benchmark script at a small size against the test PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, rows: int, database: str, out: Path, pg_server: str,
              *extra: str) -> subprocess.CompletedProcess:
    """``bench/<script> --rows N [extra...]`` in a fresh database named after ``database``; fails
    the test with the end of its error output when it exits non-zero."""
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), "--rows", str(rows), *extra,
         "--database", f"{database}_{uuid.uuid4().hex[:8]}", "--out", str(out)],
        env=os.environ | {"JINSHU_BENCH_PG_URL": pg_server}, capture_output=True, text=True,
        timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
