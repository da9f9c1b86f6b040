"""End-to-end ingest benchmark on a local PostgreSQL (``make bench``).

One run does, in order:

1. creates a fresh database (``--database``, default ``jinshu_bench``; dropped first if it
   exists) on the server at ``$JINSHU_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. generates a household-registration extract (``--rows``, default 1,000,000; seed 7)
   into the landing area of a temporary ``JINSHU_HOME`` (timed, not part of ingest);
3. runs the real ingest stages -- ``discover``, ``read``, ``conform_stage``,
   ``consent_stage``, ``check_stage``, ``dedup_stage``, then ``quality_stage`` and
   ``protect_stage`` side by side (protect in a forked process), as the DAG runs them,
   then ``load`` -- in a child process (this script with ``--stages-only``), timing each
   and the whole on the wall clock; peak memory is the largest summed PSS of the child
   and its forked process (sampled every 250 ms, and never below the child's own peak RSS
   from ``getrusage``), so generation memory is not counted;
4. verifies the ledger counts add up and ``ds_household_registration`` holds ``stored`` rows;
5. times two baselines on the same file and database: PostgreSQL ``COPY`` of the raw CSV
   into an all-text table (the floor) and naive pandas ``read_csv`` + ``to_sql``;
6. prints a report with PASS/MISS against the targets, writes it as JSON to
   ``bench/out/ingest-<timestamp>.json`` and drops the database and temporary home.

Exit status is 0 when everything ran and the counts add up, whether or not the targets
are met (this is a measurement, not a test); non-zero on any error or count mismatch.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from jinshu import pipeline
from jinshu.ingest import stages

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "jinshu_bench"
DATASET = "household_registration"
SEED = 7
CHUNK = 1 << 20  # COPY streaming chunk: 1 MiB
OUT_DIR = Path(__file__).resolve().parent / "out"

# Targets: end-to-end within 6x of a raw COPY, at least 5x faster than naive to_sql,
# peak RSS under 2 GiB.
MAX_COPY_RATIO = 6.0
MIN_TO_SQL_RATIO = 5.0
MAX_PEAK_RSS_MB = 2048.0

GX_IMPORT = "import GX"  # the quality task's fixed start-up cost, timed on its own
STAGES = ("discover", *(n for stage in pipeline.STAGES
                        for n in ((GX_IMPORT, stage.name) if stage.name == "quality" else (stage.name,))))
SAMPLE_SECONDS = 0.25  # how often the ingest's memory is sampled (reading PSS is not free)


@dataclass
class IngestResult:
    """What the ``--stages-only`` child reports back (as JSON on stdout)."""

    batch_id: str
    seconds: dict[str, float]
    end_to_end: float  # wall clock, discover to load: quality and protect overlap
    counts: dict[str, int]


@dataclass
class Results:
    """Everything one run measured; written out as JSON."""

    rows: int
    started_at: str
    machine: dict[str, Any]
    file_name: str = ""
    file_bytes: int = 0
    generate_seconds: float = 0.0
    ingest: IngestResult | None = None
    table_count: int = 0
    peak_rss_mb: float = 0.0
    copy_seconds: float = 0.0
    copy_rows: int = 0
    pandas_read_csv_seconds: float = 0.0
    pandas_to_sql_seconds: float = 0.0
    pandas_rows: int = 0
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def end_to_end(self) -> float:
        return self.ingest.end_to_end if self.ingest else 0.0


# --- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def timed(into: dict[str, float], name: str) -> Iterator[None]:
    """Store the wall-clock seconds of the ``with`` body under ``into[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into[name] = time.perf_counter() - start


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (password kept)."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def checkpoint(pg_url: str) -> None:
    """Flush dirty buffers so one phase's writes are not paid for by the next (superuser only)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege), \
            psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def recreate_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def machine_info(admin_url: str) -> dict[str, Any]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": server_version,
    }


def count_rows(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


# --- the measured phases -------------------------------------------------------------------


def generate(home: Path, rows: int, results: Results) -> Path:
    """Write the extract into the landing area; time generation (not part of ingest)."""
    from jinshu.catalog import load_catalog
    from jinshu.dev.generate import generate_extract
    from jinshu.settings import DEFAULT_CATALOG_DIR

    contract = load_catalog(DEFAULT_CATALOG_DIR)[DATASET]
    start = time.perf_counter()
    name, data = generate_extract(contract, rows, seed=SEED)
    results.generate_seconds = time.perf_counter() - start
    path = home / "landing" / contract.landing_prefix / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    results.file_name, results.file_bytes = name, len(data)
    return path


def _timed_stage(stage, settings, contract, batch_id: str) -> float:
    start = time.perf_counter()
    stage(settings, contract, batch_id)
    return time.perf_counter() - start


def side_by_side(settings, contract, batch_id: str, seconds: dict[str, float]) -> None:
    """Quality here (GX imported first, timed on its own) and protect in a forked process:
    the DAG runs the two tasks at once, on two worker slots."""

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        protect = pool.submit(_timed_stage, stages.protect_stage, settings, contract, batch_id)
        with timed(seconds, GX_IMPORT):
            import great_expectations  # noqa: F401
        with timed(seconds, "quality"):
            stages.quality_stage(settings, contract, batch_id)
        seconds["protect"] = protect.result()


def run_stages(home: Path, store_url: str) -> IngestResult:
    """The ingest stages as the DAG's tasks call them, each timed, and the whole."""
    from jinshu.catalog import load_catalog
    from jinshu.govern import audit
    from jinshu.settings import DEFAULT_CATALOG_DIR, Settings

    settings = Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url})
    audit.use_settings(settings)  # these settings, not the environment's, find the audit key
    contracts = load_catalog(DEFAULT_CATALOG_DIR)
    contract = contracts[DATASET]
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    with timed(seconds, "discover"):
        waiting = stages.discover(settings, contract, contracts)
    if len(waiting) != 1:
        raise RuntimeError(f"discover found {len(waiting)} waiting batches, expected 1: {waiting}")
    batch_id = waiting[0]
    if pipeline.SIDE_BY_SIDE != ("quality", "protect"):
        raise RuntimeError(f"expected quality and protect side by side, not {pipeline.SIDE_BY_SIDE}")
    for stage in pipeline.STAGES:
        if stage.name in pipeline.SIDE_BY_SIDE:
            continue
        if stage.name == pipeline.LOAD.name:
            side_by_side(settings, contract, batch_id, seconds)
        with timed(seconds, stage.name):
            result = stage.run(settings, contract, batch_id)
    counts = result
    return IngestResult(batch_id, seconds, time.perf_counter() - start, asdict(counts))


def tree_memory(process: psutil.Process) -> int:
    """Bytes of memory used by ``process`` and every process under it: the sum of their
    proportional set sizes, so pages shared after a fork count once."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_full_info().pss
    return total


def ingest_in_child(home: Path, store_url: str, results: Results) -> None:
    """Run :func:`run_stages` in a fresh interpreter, sampling its memory as it goes."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--stages-only",
         "--home", str(home), "--store-url", store_url],
        stdout=subprocess.PIPE, text=True,
    )
    peak, watched = [0], psutil.Process(child.pid)

    def sample() -> None:
        while child.poll() is None:
            peak[0] = max(peak[0], tree_memory(watched))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out, _ = child.communicate()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"the ingest child failed with exit status {child.returncode} "
                           "(its traceback is above)")
    largest_one_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if before >= largest_one_kb:  # an earlier, bigger child would hide this one's peak
        results.problems.append(f"peak RSS unreliable: an earlier child peaked at {before} KB")
    results.ingest = IngestResult(**json.loads(out.strip().splitlines()[-1]))
    results.peak_rss_mb = max(peak[0] / 2**20, largest_one_kb / 1024)


def verify(store_url: str, results: Results) -> None:
    """Every input row accounted for, and the dataset table holds what the ledger says."""
    assert results.ingest is not None
    counts = results.ingest.counts
    results.table_count = count_rows(store_url, f"ds_{DATASET}")
    if counts["rows_in"] != counts["stored"] + counts["duplicates"] + counts["quarantined"]:
        results.problems.append(f"ledger counts do not add up: {counts}")
    if counts["rows_in"] != results.rows:
        results.problems.append(f"rows_in {counts['rows_in']} != {results.rows} rows generated")
    if results.table_count != counts["stored"]:
        results.problems.append(
            f"ds_{DATASET} holds {results.table_count} rows, the ledger says {counts['stored']} stored")


def copy_baseline(store_url: str, path: Path, results: Results) -> None:
    """The floor: COPY the raw CSV into an all-text table with the file's own headers."""
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    table = sql.Identifier("baseline_copy")
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(h)) for h in header)
    with psycopg.connect(store_url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, path.open("rb") as f, \
                cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(table)) as copy:
            while chunk := f.read(CHUNK):
                copy.write(chunk)
        conn.commit()
        results.copy_seconds = time.perf_counter() - start
    results.copy_rows = count_rows(store_url, "baseline_copy")


def pandas_baseline(store_url: str, path: Path, results: Results) -> None:
    """Naive pandas: read_csv(dtype=str) then to_sql with default settings."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(make_url(store_url).set(drivername="postgresql+psycopg"))
    try:
        start = time.perf_counter()
        frame = pd.read_csv(path, dtype=str)
        results.pandas_read_csv_seconds = time.perf_counter() - start
        start = time.perf_counter()
        frame.to_sql("naive", engine, index=False)
        results.pandas_to_sql_seconds = time.perf_counter() - start
    finally:
        engine.dispose()
    results.pandas_rows = count_rows(store_url, "naive")
    if results.pandas_rows != len(frame):
        results.problems.append(f"to_sql stored {results.pandas_rows} of {len(frame)} rows")


def judge(results: Results) -> None:
    """Ratios against the targets, each PASS or MISS."""
    e2e = results.end_to_end
    copy_ratio = e2e / results.copy_seconds if results.copy_seconds else float("inf")
    to_sql_ratio = results.pandas_to_sql_seconds / e2e if e2e else 0.0
    results.targets = {
        "end_to_end_over_copy": {"value": copy_ratio, "target": f"<= {MAX_COPY_RATIO:g}x",
                                 "pass": copy_ratio <= MAX_COPY_RATIO},
        "to_sql_over_end_to_end": {"value": to_sql_ratio, "target": f">= {MIN_TO_SQL_RATIO:g}x",
                                   "pass": to_sql_ratio >= MIN_TO_SQL_RATIO},
        "peak_rss_mb": {"value": results.peak_rss_mb, "target": f"< {MAX_PEAK_RSS_MB:g} MB",
                        "pass": results.peak_rss_mb < MAX_PEAK_RSS_MB},
    }


# --- report --------------------------------------------------------------------------------


def report(results: Results) -> str:
    """The human-readable report."""
    m, ingest = results.machine, results.ingest
    rows = ingest.counts["rows_in"] if ingest else results.rows
    lines = [
        f"jinshu ingest benchmark: {DATASET}, {results.rows:,} rows "
        f"({results.file_name}, {results.file_bytes / 2**20:.1f} MiB CSV)",
        f"machine: {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}",
        "",
        f"{'phase':<34}{'seconds':>10}{'rows/s':>14}",
        "-" * 58,
    ]

    def line(label: str, seconds: float, n: int = rows) -> None:
        lines.append(f"{label:<34}{seconds:>10.2f}{rate(n, seconds):>14,.0f}")

    line("generate extract (not ingest)", results.generate_seconds, results.rows)
    lines.append("")
    if ingest:
        for stage in STAGES:
            if stage == GX_IMPORT:  # not per row: the same for 10 rows or 10 million
                lines.append(f"{'  ' + stage:<34}{ingest.seconds[stage]:>10.2f}{'(fixed)':>14}")
            else:
                line(f"  {stage}" + (" (beside GX, quality)" if stage == "protect" else ""),
                     ingest.seconds[stage])
        line("ingest end to end (wall clock)", results.end_to_end)
    lines.append("")
    line("COPY raw CSV (floor)", results.copy_seconds, results.copy_rows)
    line("pandas read_csv + to_sql", results.pandas_read_csv_seconds + results.pandas_to_sql_seconds,
         results.pandas_rows)
    line("  of which to_sql", results.pandas_to_sql_seconds, results.pandas_rows)
    lines.append("")
    if ingest:
        c = ingest.counts
        lines.append(f"ledger: rows_in={c['rows_in']:,} stored={c['stored']:,} "
                     f"duplicates={c['duplicates']:,} quarantined={c['quarantined']:,}; "
                     f"SELECT count(*) FROM ds_{DATASET} = {results.table_count:,}")
        lines.append(f"peak memory of ingest (its processes together): {results.peak_rss_mb:,.0f} MB")
    lines.append("")
    lines.append(f"{'target':<26}{'measured':>12}  {'goal':<14}verdict")
    shown = {"end_to_end_over_copy": ("end-to-end / COPY", "{:.2f}x"),
             "to_sql_over_end_to_end": ("to_sql / end-to-end", "{:.2f}x"),
             "peak_rss_mb": ("peak RSS", "{:,.0f} MB")}
    for key, (label, fmt) in shown.items():
        t = results.targets[key]
        lines.append(f"{label:<26}{fmt.format(t['value']):>12}  {t['target']:<14}"
                     f"{'PASS' if t['pass'] else 'MISS'}")
    if ingest:
        by_copy = MAX_COPY_RATIO * results.copy_seconds
        by_to_sql = results.pandas_to_sql_seconds / MIN_TO_SQL_RATIO
        gx = ingest.seconds[GX_IMPORT] + ingest.seconds["quality"]
        lines.append(f"time the targets allow: {min(by_copy, by_to_sql):.2f} s "
                     f"({MAX_COPY_RATIO:g} x COPY = {by_copy:.2f} s, to_sql / {MIN_TO_SQL_RATIO:g} "
                     f"= {by_to_sql:.2f} s); importing GX and running the suite alone: {gx:.2f} s")
    for problem in results.problems:
        lines.append(f"PROBLEM: {problem}")
    return "\n".join(lines)


def write_json(results: Results, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ingest-{results.started_at}.json"
    payload = asdict(results) | {"end_to_end_seconds": results.end_to_end}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


# --- entry points --------------------------------------------------------------------------


def provision_keys(home: Path) -> None:
    """Keys an operator provisions: outside the embedded SQLite store jinshu never makes one."""
    keys = home / "keys"
    keys.mkdir(mode=0o700)
    for name in ("pseudonym.key", "audit.key"):
        (keys / name).write_text(os.urandom(32).hex())
    (keys / "data-keys.json").write_text(json.dumps({"active": "k1",
                                                     "keys": {"k1": os.urandom(32).hex()}}))


def bench(rows: int, keep: bool, database: str = BENCH_DB, out_dir: Path = OUT_DIR) -> int:
    """The whole run; returns the exit status."""
    admin_url = os.environ.get("JINSHU_BENCH_PG_URL", DEFAULT_PG_URL)
    store_url = with_database(admin_url, database)
    results = Results(rows=rows, started_at=datetime.now().strftime("%Y%m%dT%H%M%S"),
                      machine=machine_info(admin_url))
    home = Path(tempfile.mkdtemp(prefix="jinshu-bench-", dir="/tmp"))
    provision_keys(home)
    recreate_database(admin_url, database)
    try:
        print(f"generating {rows:,} rows into {home} ...", file=sys.stderr, flush=True)
        path = generate(home, rows, results)
        checkpoint(store_url)
        print("ingest (child process) ...", file=sys.stderr, flush=True)
        ingest_in_child(home, store_url, results)
        verify(store_url, results)
        checkpoint(store_url)
        print("baseline: COPY ...", file=sys.stderr, flush=True)
        copy_baseline(store_url, path, results)
        checkpoint(store_url)
        print("baseline: pandas read_csv + to_sql ...", file=sys.stderr, flush=True)
        pandas_baseline(store_url, path, results)
        if results.copy_rows != rows:
            results.problems.append(f"COPY loaded {results.copy_rows} rows, expected {rows}")
    finally:
        if not keep:
            drop_database(admin_url, database)
            shutil.rmtree(home, ignore_errors=True)
    judge(results)
    print(report(results))
    print(f"\nresults written to {write_json(results, out_dir)}")
    if results.problems:
        print("FAILED: the counts do not add up (see PROBLEM lines)", file=sys.stderr)
        return 1
    return 0


def stages_only(home: Path, store_url: str) -> int:
    """Child mode: run the stages, print one JSON line; anything else printed goes to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        result = run_stages(home, store_url)
    print(json.dumps(asdict(result)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and the temporary home for inspection")
    parser.add_argument("--database", default=BENCH_DB,
                        help=f"database to create, use and drop (default {BENCH_DB})")
    parser.add_argument("--out", type=Path, default=OUT_DIR,
                        help="folder for the JSON results (default bench/out)")
    parser.add_argument("--stages-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages_only:
        if args.home is None or args.store_url is None:
            parser.error("--stages-only needs --home and --store-url")
        return stages_only(args.home, args.store_url)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    return bench(args.rows, args.keep, args.database, args.out)


if __name__ == "__main__":
    sys.exit(main())
