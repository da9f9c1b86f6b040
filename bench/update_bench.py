"""The load of a changed extract on a local PostgreSQL: the second batch of a dataset.

``make bench`` measures the first load (COPY into an empty table). This measures
the other path of :func:`jinshu.repeat.stored.store_records`, the one every later
batch takes: the batch staged, its records identical to their current version
recorded as duplicates, the current versions it changes closed and the new
versions inserted, all set-based in SQL.

1. creates a fresh database (``--database``, default ``jinshu_bench_update``) on
   ``$JINSHU_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. generates ``--rows`` household-registration records (seed 7) and ingests them
   through every stage (the first load, not timed), then analyzes the table, as
   autovacuum does within a minute of a load that size (batches come hours apart);
3. drops the same records again with ``--changed`` of them (default 0.1, every
   tenth) given a new address, ingests that file through every stage and times each;
   the ``load`` line is the one this benchmark is for;
4. checks ``rows_in = stored + duplicates + quarantined``, stored = changed records,
   and the table's rows, then drops the database and the temporary home.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATASET = "household_registration"
SEED = 7


def _database(admin_url: str, database: str, create: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _ingest(settings, contracts, contract, name: str, data: bytes) -> tuple[dict[str, float], object]:
    """Drop one file and run every stage on it in order; seconds per stage and the counts."""
    from jinshu import pipeline
    from jinshu.store.objects import open_store

    open_store(settings.landing_url).write(contract.landing_prefix + name, data)
    [batch_id] = pipeline.discover(settings, contract, contracts)
    seconds, counts = {}, None
    if hasattr(pipeline, "split"):  # code that cuts files into chunks at discovery
        start = time.perf_counter()
        pipeline.split(settings, contract, batch_id)
        seconds["split"] = time.perf_counter() - start
    for stage in pipeline.STAGES:
        start = time.perf_counter()
        counts = stage.run(settings, contract, batch_id)
        seconds[stage.name] = time.perf_counter() - start
    return seconds, counts


def run(rows: int, changed: float, store_url: str, home: Path) -> int:
    from ingest_bench import provision_keys  # beside this script

    from jinshu.catalog import load_catalog
    from jinshu.dev.generate import generate_frame, render_extract
    from jinshu.govern import audit
    from jinshu.settings import DEFAULT_CATALOG_DIR, Settings

    provision_keys(home)  # outside the embedded SQLite store jinshu never makes a key
    settings = Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url})
    audit.use_settings(settings)
    contracts = load_catalog(DEFAULT_CATALOG_DIR)
    contract = contracts[DATASET]
    frame = generate_frame(contract, rows, SEED)
    print(f"first load of {rows:,} rows (not timed) ...", file=sys.stderr, flush=True)
    _ingest(settings, contracts, contract, "first.csv", render_extract(contract, frame, seed=SEED)[1])
    with psycopg.connect(store_url.replace("+psycopg", ""), autocommit=True) as conn:
        # What autovacuum does within a minute of a big load; batches come hours apart.
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(contract.table)))
    step = max(1, round(1 / changed))
    moved = frame.copy()
    moved.loc[moved.index[::step], "address"] = [f"山西省太原市迎泽区柳巷{i}号"
                                                 for i in range(len(moved.index[::step]))]
    print("second batch ...", file=sys.stderr, flush=True)
    seconds, counts = _ingest(settings, contracts, contract, "second.csv",
                              render_extract(contract, moved, seed=SEED)[1])
    with psycopg.connect(store_url.replace("+psycopg", ""), autocommit=True) as conn:
        table_rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(contract.table))).fetchone()[0]
    expected = len(moved.index[::step])
    print(f"second batch of {rows:,} rows, {expected:,} changed (every {step}th), PostgreSQL, "
          f"{os.cpu_count()} CPUs")
    for name, took in seconds.items():
        print(f"  {name:<10}{took:>8.2f} s")
    print(f"counts: rows_in={counts.rows_in:,} stored={counts.stored:,} "
          f"duplicates={counts.duplicates:,} quarantined={counts.quarantined:,}; "
          f"rows in {contract.table}: {table_rows:,}")
    adds_up = counts.rows_in == counts.stored + counts.duplicates + counts.quarantined
    return 0 if adds_up and counts.stored == expected else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.1, help="share of records changed")
    parser.add_argument("--database", default="jinshu_bench_update")
    args = parser.parse_args(argv)
    admin = os.environ.get("JINSHU_BENCH_PG_URL", DEFAULT_PG_URL)
    url = make_url(admin).set(database=args.database, drivername="postgresql+psycopg")
    home = Path(tempfile.mkdtemp(prefix="jinshu-update-bench-"))
    _database(admin, args.database, create=True)
    try:
        return run(args.rows, args.changed, url.render_as_string(hide_password=False), home)
    finally:
        _database(admin, args.database, create=False)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
