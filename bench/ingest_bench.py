"""End-to-end ingest benchmark on a local PostgreSQL (``make bench``).

For each size (``--rows``, default 1,000,000; ``make bench ROWS=10000000``, or
``BENCH_LARGE=1`` for 1,000,000 then 10,000,000), one run:

1. creates a fresh database (``--database``, default ``jinshu_bench``; dropped first if it
   exists) on the server at ``$JINSHU_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. generates a household-registration extract of that many rows (seed 7) into the landing
   area of a temporary ``JINSHU_HOME``, written a million rows at a time (timed, not ingest);
3. runs the real ingest in a child process (this script with ``--stages-only``), as the DAG
   runs it: ``discover``, ``split`` (the file read as a stream and cut into chunks of
   ``JINSHU_CHUNK_ROWS``), then every chunk through the chunk stages, each chunk in a
   process forked for it, ``--workers`` (2) at a time: as two worker slots of an Airflow
   worker, which imports GX once and forks a process per task; then the one ``load``.
   Each stage is timed summed over the chunks, the chunk phase and the whole on the wall
   clock; peak memory is the largest summed PSS of the
   child and its workers (sampled every 250 ms, never below the child's own peak RSS);
   each phase's peak RSS of the child and a worker's largest peak are reported beside it;
4. verifies the ledger counts add up and ``ds_household_registration`` holds ``stored`` rows;
5. times the floor on the same file and database: PostgreSQL ``COPY`` of the raw CSV into an
   all-text table (and, with ``--to-sql``, naive pandas ``read_csv`` + ``to_sql``);
6. at the first size (unless ``--no-exchange``): the exchange publish of the stored table,
   in full, then incremental after 1 % of the records changed, against ``COPY TO`` +
   ``COPY FROM`` of the same table (:mod:`publish_bench`);
7. prints a report with PASS/MISS against the targets, writes it as JSON to
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
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from jinshu import pipeline

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "jinshu_bench"
DATASET = "household_registration"
SEED = 7
LARGE = 10_000_000
GENERATE_SLICE = 1_000_000  # rows rendered to CSV at a time
CHUNK = 1 << 20  # COPY streaming chunk: 1 MiB
OUT_DIR = Path(__file__).resolve().parent / "out"

# Targets (issue 15), on this 2-core machine.
MAX_PEAK_MB = 2048.0  # peak memory of the ingest at every size
MAX_PEAK_GROWTH = 1.2  # peak at the largest size over the peak at the smallest
MAX_COPY_RATIO_LARGE = 8.0  # end to end at 10,000,000 rows over the raw COPY of the file

GX_IMPORT = "import GX"  # once per worker, before the workers fork
CHUNK_PHASE = "chunk stages (wall clock)"
FILE_STAGES = ("discover", "split")
STAGES = (*FILE_STAGES, GX_IMPORT, *(s.name for s in pipeline.CHUNK_STAGES), CHUNK_PHASE,
          pipeline.LOAD.name)
SAMPLE_SECONDS = 0.25  # how often the ingest's memory is sampled (reading PSS is not free)
WORKER_PEAK = "worker peak MB"


@dataclass
class IngestResult:
    """What the ``--stages-only`` child reports back (as JSON on stdout)."""

    batch_id: str
    chunks: int
    workers: int
    seconds: dict[str, float]  # chunk stages: summed over the chunks (on every worker)
    end_to_end: float  # wall clock, discover to load
    counts: dict[str, int]
    max_rss_mb: float = 0.0  # the child's own peak resident memory
    rss_mb: dict[str, float] = field(default_factory=dict)  # its peak per phase, a worker's peak


@dataclass
class SizeResult:
    """Everything measured at one size."""

    rows: int
    file_name: str = ""
    file_bytes: int = 0
    generate_seconds: float = 0.0
    ingest: IngestResult | None = None
    table_count: int = 0
    peak_mb: float = 0.0
    peak_at: dict[str, Any] | None = None  # when the peak came, and each process's share
    copy_seconds: float = 0.0
    copy_rows: int = 0
    to_sql_seconds: float | None = None
    exchange: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def end_to_end(self) -> float:
        return self.ingest.end_to_end if self.ingest else 0.0


@dataclass
class Results:
    started_at: str
    machine: dict[str, Any]
    sizes: list[SizeResult] = field(default_factory=list)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return [p for s in self.sizes for p in s.problems]


# --- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def timed(into: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall-clock seconds of the ``with`` body to ``into[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into[name] = into.get(name, 0.0) + time.perf_counter() - start


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
        "load_average_before": os.getloadavg(),
    }


def count_rows(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def provision_keys(home: Path) -> None:
    """Keys an operator provisions: outside the embedded SQLite store jinshu never makes one."""
    keys = home / "keys"
    keys.mkdir(mode=0o700)
    for name in ("pseudonym.key", "audit.key"):
        (keys / name).write_text(os.urandom(32).hex())
    (keys / "data-keys.json").write_text(json.dumps({"active": "k1",
                                                     "keys": {"k1": os.urandom(32).hex()}}))


def bench_settings(home: Path, store_url: str, chunk_rows: int | None = None):
    from jinshu.govern import audit
    from jinshu.settings import Settings

    env = {"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url}
    if chunk_rows:
        env["JINSHU_CHUNK_ROWS"] = str(chunk_rows)
    settings = Settings.from_env(env)
    audit.use_settings(settings)  # these settings, not the environment's, find the audit key
    return settings


# --- the measured phases -------------------------------------------------------------------


def generate(home: Path, rows: int, result: SizeResult) -> Path:
    """Write the extract into the landing area, a slice at a time; time it (not ingest)."""
    from jinshu.catalog import load_catalog
    from jinshu.dev.generate import generate_frame, render_extract
    from jinshu.settings import DEFAULT_CATALOG_DIR

    contract = load_catalog(DEFAULT_CATALOG_DIR)[DATASET]
    start = time.perf_counter()
    frame = generate_frame(contract, rows, seed=SEED)
    name = f"{contract.id}_{SEED}.csv"
    path = home / "landing" / contract.landing_prefix / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for start_row in range(0, rows, GENERATE_SLICE):
            _, data = render_extract(contract, frame.iloc[start_row:start_row + GENERATE_SLICE],
                                     seed=SEED)
            out.write(data if start_row == 0 else data.split(b"\n", 1)[1])  # one header
    del frame
    result.generate_seconds = time.perf_counter() - start
    result.file_name, result.file_bytes = name, path.stat().st_size
    return path


def _worker_ready(store_url: str) -> None:
    """A worker forked from the ingest: its own database connections, not its parent's,
    and its own peak memory from here on (a forked process inherits its parent's)."""
    from jinshu.store.engine import engine_for

    engine_for(store_url).dispose(close=False)
    _reset_peak()


def _reset_peak() -> None:
    """Restart this process's peak resident memory (Linux: ``/proc/self/clear_refs``)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as out:
        out.write("5")


def _peak_mb() -> float:
    """This process's peak resident memory since its last reset (``VmHWM``), in MB."""
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kb / 1024


def _run_chunk(home: str, store_url: str, chunk_rows: int, ref: str) -> dict[str, float]:
    """Every chunk stage of one chunk, in registry order, each timed."""
    from jinshu.catalog import load_catalog
    from jinshu.settings import DEFAULT_CATALOG_DIR

    settings = bench_settings(Path(home), store_url, chunk_rows)
    contract = load_catalog(DEFAULT_CATALOG_DIR)[DATASET]
    seconds: dict[str, float] = {}
    for stage in pipeline.CHUNK_STAGES:
        with timed(seconds, stage.name):
            stage.run(settings, contract, ref)
    seconds[WORKER_PEAK] = _peak_mb()  # not seconds: taken out by the caller
    return seconds


def _chunk_process(results, home: str, store_url: str, chunk_rows: int, ref: str) -> None:
    _worker_ready(store_url)
    try:
        results.put((ref, _run_chunk(home, store_url, chunk_rows, ref), None))
    except BaseException as error:
        results.put((ref, None, repr(error)))
        raise


def run_chunks(home: str, store_url: str, chunk_rows: int, refs: list[str],
               workers: int) -> Iterator[dict[str, float]]:
    """Each chunk's stages in a process of its own, forked from this one (GX imported), at
    most ``workers`` at a time: as an Airflow worker forks a process per task."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    todo, running = list(refs), {}
    while todo or running:
        while todo and len(running) < workers:
            ref = todo.pop(0)
            running[ref] = context.Process(target=_chunk_process,
                                           args=(results, home, store_url, chunk_rows, ref))
            running[ref].start()
        ref, seconds, error = results.get()
        running.pop(ref).join()
        if error is not None:
            raise RuntimeError(f"chunk {ref} failed: {error}")
        yield seconds


def run_stages(home: Path, store_url: str, workers: int, chunk_rows: int | None) -> IngestResult:
    """The ingest as the DAG runs it, each stage timed, and the whole on the wall clock."""
    from jinshu.catalog import load_catalog
    from jinshu.settings import DEFAULT_CATALOG_DIR

    settings = bench_settings(home, store_url, chunk_rows)
    contracts = load_catalog(DEFAULT_CATALOG_DIR)
    contract = contracts[DATASET]
    seconds: dict[str, float] = {}
    rss: dict[str, float] = {}
    _reset_peak()

    def after(phase: str) -> None:  # the child's own peak in the phase, then a fresh start
        rss[phase] = round(_peak_mb())
        _reset_peak()

    start = time.perf_counter()
    with timed(seconds, "discover"):
        waiting = pipeline.discover(settings, contract, contracts)
    if len(waiting) != 1:
        raise RuntimeError(f"discover found {len(waiting)} waiting batches, expected 1: {waiting}")
    [batch_id] = waiting
    with timed(seconds, "split"):
        refs = pipeline.split(settings, contract, batch_id)
    after("split")
    with timed(seconds, GX_IMPORT):  # an Airflow worker imports it before it forks tasks
        import great_expectations  # noqa: F401

        from jinshu.quality import validation  # noqa: F401
    with timed(seconds, CHUNK_PHASE):
        for chunk_seconds in run_chunks(str(home), store_url, settings.chunk_rows, refs, workers):
            rss["worker"] = max(rss.get("worker", 0), round(chunk_seconds.pop(WORKER_PEAK)))
            for name, value in chunk_seconds.items():
                seconds[name] = seconds.get(name, 0.0) + value
    after("chunk stages")
    with timed(seconds, pipeline.LOAD.name):
        counts = pipeline.LOAD.run(settings, contract, batch_id)
    after("load")
    end_to_end = time.perf_counter() - start
    largest = max(v for k, v in rss.items() if k != "worker")  # the child's own peak
    return IngestResult(batch_id, len(refs), workers, seconds, end_to_end, asdict(counts),
                        largest, rss)


def tree_memory(process: psutil.Process) -> tuple[int, list[int]]:
    """Bytes of memory used by ``process`` and every process under it: the sum of their
    proportional set sizes, so pages shared after a fork count once; and each one's."""
    each = []
    with contextlib.suppress(psutil.Error):
        for p in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                each.append(p.memory_full_info().pss)
    return sum(each), each


def ingest_in_child(home: Path, store_url: str, workers: int, chunk_rows: int | None,
                    result: SizeResult) -> None:
    """Run :func:`run_stages` in a fresh interpreter, sampling its memory as it goes."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--stages-only", "--home", str(home),
         "--store-url", store_url, "--workers", str(workers),
         *(["--chunk-rows", str(chunk_rows)] if chunk_rows else [])],
        stdout=subprocess.PIPE, text=True,
    )
    peak, watched = [0, []], psutil.Process(child.pid)
    started = time.perf_counter()

    def sample() -> None:
        while child.poll() is None:
            total, each = tree_memory(watched)
            if total > peak[0]:
                peak[:] = [total, each, time.perf_counter() - started]
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"the ingest child failed with exit status {child.returncode} "
                           "(its traceback is above)")
    result.ingest = IngestResult(**json.loads(out.strip().splitlines()[-1]))
    result.peak_mb = max(peak[0] / 2**20, result.ingest.max_rss_mb)  # a peak between samples
    if len(peak) > 2:
        result.peak_at = {"seconds": round(peak[2], 1),
                          "processes_mb": [round(b / 2**20) for b in peak[1]]}


def verify(store_url: str, result: SizeResult) -> None:
    """Every input row accounted for, and the dataset table holds what the ledger says."""
    assert result.ingest is not None
    counts = result.ingest.counts
    result.table_count = count_rows(store_url, f"ds_{DATASET}")
    if counts["rows_in"] != counts["stored"] + counts["duplicates"] + counts["quarantined"]:
        result.problems.append(f"ledger counts do not add up: {counts}")
    if counts["rows_in"] != result.rows:
        result.problems.append(f"rows_in {counts['rows_in']} != {result.rows} rows generated")
    if result.table_count != counts["stored"]:
        result.problems.append(
            f"ds_{DATASET} holds {result.table_count} rows, the ledger says {counts['stored']} stored")


def copy_baseline(store_url: str, path: Path, result: SizeResult) -> None:
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
        result.copy_seconds = time.perf_counter() - start
        conn.execute(sql.SQL("DROP TABLE {}").format(table))  # not counted: disk for 10M rows
        conn.commit()
    result.copy_rows = result.rows  # COPY of a clean extract stores every line


def to_sql_baseline(store_url: str, path: Path, result: SizeResult) -> None:
    """Naive pandas: read_csv(dtype=str) then to_sql with default settings."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(make_url(store_url).set(drivername="postgresql+psycopg"))
    try:
        start = time.perf_counter()
        pd.read_csv(path, dtype=str).to_sql("naive", engine, index=False)
        result.to_sql_seconds = time.perf_counter() - start
    finally:
        engine.dispose()


def judge(results: Results) -> None:
    """The targets, each PASS or MISS."""
    sizes = sorted(results.sizes, key=lambda s: s.rows)
    targets = {}
    for s in sizes:
        targets[f"peak_mb_{s.rows}"] = {"value": s.peak_mb, "target": f"< {MAX_PEAK_MB:g} MB",
                                        "pass": s.peak_mb < MAX_PEAK_MB}
    if len(sizes) > 1:
        growth = sizes[-1].peak_mb / sizes[0].peak_mb
        targets["peak_growth"] = {"value": growth, "target": f"<= {MAX_PEAK_GROWTH:g}x",
                                  "pass": growth <= MAX_PEAK_GROWTH}
    for s in sizes:
        ratio = s.end_to_end / s.copy_seconds if s.copy_seconds else float("inf")
        goal = MAX_COPY_RATIO_LARGE if s.rows >= LARGE else None
        targets[f"end_to_end_over_copy_{s.rows}"] = {
            "value": ratio, "target": f"<= {goal:g}x" if goal else "(target at 10M rows)",
            "pass": ratio <= goal if goal else None}
    for s in sizes:
        if s.exchange:
            e = s.exchange
            targets["exchange_full_over_copy"] = {
                "value": e["full"] / e["copy_to_from"], "target": "<= 4x",
                "pass": e["full"] <= 4 * e["copy_to_from"]}
            targets["exchange_incremental_over_full"] = {
                "value": e["incremental"] / e["full"], "target": "<= 0.10",
                "pass": e["incremental"] <= 0.1 * e["full"]}
    results.targets = targets


# --- report --------------------------------------------------------------------------------


def _line(label: str, seconds: float, rows: int) -> str:
    return f"{label:<44}{seconds:>10.2f}{rate(rows, seconds):>14,.0f}"


def _size_lines(s: SizeResult) -> list[str]:
    ingest = s.ingest
    lines = ["", f"{s.rows:,} rows ({s.file_name}, {s.file_bytes / 2**20:,.1f} MiB CSV)"
             + (f", {ingest.chunks} chunks on {ingest.workers} workers" if ingest else ""),
             f"{'phase':<44}{'seconds':>10}{'rows/s':>14}", "-" * 68,
             _line("generate extract (not ingest)", s.generate_seconds, s.rows)]
    if ingest:
        for stage in STAGES:
            value = ingest.seconds.get(stage, 0.0)
            if stage == GX_IMPORT:
                lines.append(f"{'  ' + stage + ' (once, before the workers fork)':<44}"
                             f"{value:>10.2f}{'(fixed)':>14}")
            elif stage in (*FILE_STAGES, CHUNK_PHASE, pipeline.LOAD.name):
                lines.append(_line(f"  {stage}", value, s.rows))
            else:
                lines.append(_line(f"    {stage} (summed over chunks)", value, s.rows))
        lines.append(_line("ingest end to end (wall clock)", s.end_to_end, s.rows))
    lines.append(_line("COPY raw CSV (floor)", s.copy_seconds, s.rows))
    if s.to_sql_seconds is not None:
        lines.append(_line("pandas read_csv + to_sql", s.to_sql_seconds, s.rows))
    if ingest:
        c = ingest.counts
        lines += [f"ledger: rows_in={c['rows_in']:,} stored={c['stored']:,} "
                  f"duplicates={c['duplicates']:,} quarantined={c['quarantined']:,}; "
                  f"SELECT count(*) FROM ds_{DATASET} = {s.table_count:,}",
                  f"peak memory of the ingest (PSS, its processes together): {s.peak_mb:,.0f} MB"
                  + (f", {s.peak_at['seconds']:.0f} s in: {s.peak_at['processes_mb']} MB per process"
                     if s.peak_at else ""),
                  "peak resident memory of one process: "
                  + ", ".join(f"{k} {v:,.0f} MB" for k, v in ingest.rss_mb.items()),
                  f"end to end / COPY: {s.end_to_end / s.copy_seconds:.2f}x"]
    if s.exchange:
        e = s.exchange
        lines.append(f"exchange publish of {e['rows']:,} rows: full {e['full']:.2f} s, incremental "
                     f"after {e['changed']:,} records changed {e['incremental']:.2f} s "
                     f"({e['written']:,} rows written); COPY TO + COPY FROM of the table "
                     f"{e['copy_to_from']:.2f} s")
    return lines + [f"PROBLEM: {p}" for p in s.problems]


def report(results: Results) -> str:
    """The human-readable report."""
    m = results.machine
    lines = [f"jinshu ingest benchmark: {DATASET}; machine: {m['cpu_count']} CPUs (shared: load "
             f"average {m['load_average_before'][0]:.1f} before the run), {m['platform']}, "
             f"Python {m['python']}, PostgreSQL {m['postgresql']}"]
    for s in results.sizes:
        lines += _size_lines(s)
    lines += ["", f"{'target':<36}{'measured':>12}  {'goal':<22}verdict"]
    for key, t in results.targets.items():
        value = f"{t['value']:,.0f} MB" if key.startswith("peak_mb") else f"{t['value']:.2f}x"
        verdict = "-" if t["pass"] is None else ("PASS" if t["pass"] else "MISS")
        lines.append(f"{key:<36}{value:>12}  {t['target']:<22}{verdict}")
    return "\n".join(lines)


def write_json(results: Results, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ingest-{results.started_at}.json"
    payload = asdict(results) | {"end_to_end_seconds": {s.rows: s.end_to_end for s in results.sizes}}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


# --- entry points --------------------------------------------------------------------------


def bench_size(rows: int, args: argparse.Namespace, admin_url: str, exchange: bool) -> SizeResult:
    store_url = with_database(admin_url, args.database)
    result = SizeResult(rows=rows)
    home = Path(tempfile.mkdtemp(prefix="jinshu-bench-", dir=args.tmp))
    provision_keys(home)
    recreate_database(admin_url, args.database)
    try:
        print(f"{rows:,} rows: generating into {home} ...", file=sys.stderr, flush=True)
        path = generate(home, rows, result)
        checkpoint(store_url)
        print(f"{rows:,} rows: ingest (child process) ...", file=sys.stderr, flush=True)
        ingest_in_child(home, store_url, args.workers, args.chunk_rows, result)
        verify(store_url, result)
        checkpoint(store_url)
        print(f"{rows:,} rows: baseline COPY ...", file=sys.stderr, flush=True)
        copy_baseline(store_url, path, result)
        if args.to_sql:
            checkpoint(store_url)
            to_sql_baseline(store_url, path, result)
        if exchange:
            import publish_bench  # beside this script

            print(f"{rows:,} rows: exchange publish ...", file=sys.stderr, flush=True)
            checkpoint(store_url)
            result.exchange = publish_bench.measure(home, store_url, rows, SEED, checkpoint)
            result.problems += result.exchange.pop("problems")
    finally:
        if not args.keep:
            drop_database(admin_url, args.database)
            shutil.rmtree(home, ignore_errors=True)
    return result


def bench(args: argparse.Namespace) -> int:
    """The whole run; returns the exit status."""
    admin_url = os.environ.get("JINSHU_BENCH_PG_URL", DEFAULT_PG_URL)
    results = Results(started_at=datetime.now().strftime("%Y%m%dT%H%M%S"),
                      machine=machine_info(admin_url))
    for i, rows in enumerate(args.rows):
        results.sizes.append(bench_size(rows, args, admin_url, exchange=i == 0 and args.exchange))
    judge(results)
    print(report(results))
    print(f"\nresults written to {write_json(results, args.out)}")
    if results.problems:
        print("FAILED: see the PROBLEM lines", file=sys.stderr)
        return 1
    return 0


def stages_only(args: argparse.Namespace) -> int:
    """Child mode: run the stages, print one JSON line; anything else printed goes to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        result = run_stages(args.home, args.store_url, args.workers, args.chunk_rows)
    print(json.dumps(asdict(result)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default_rows = [1_000_000, LARGE] if os.environ.get("BENCH_LARGE") == "1" else [1_000_000]
    parser.add_argument("--rows", type=int, nargs="+", default=default_rows,
                        help="sizes to run, in turn (default 1,000,000; BENCH_LARGE=1 adds 10,000,000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the chunks")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="records per chunk (default: JINSHU_CHUNK_ROWS or 250,000)")
    parser.add_argument("--to-sql", action="store_true", help="also time pandas to_sql (slow)")
    parser.add_argument("--no-exchange", dest="exchange", action="store_false",
                        help="skip the exchange publish at the first size")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and the temporary home for inspection")
    parser.add_argument("--database", default=BENCH_DB,
                        help=f"database to create, use and drop (default {BENCH_DB})")
    parser.add_argument("--out", type=Path, default=OUT_DIR,
                        help="folder for the JSON results (default bench/out)")
    parser.add_argument("--tmp", default="/tmp", help="where the temporary home goes")
    parser.add_argument("--stages-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages_only:
        if args.home is None or args.store_url is None:
            parser.error("--stages-only needs --home and --store-url")
        return stages_only(args)
    if min(args.rows) < 1:
        parser.error("--rows must be at least 1")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
