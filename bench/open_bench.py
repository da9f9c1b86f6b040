"""Open-data publication benchmark on a local PostgreSQL (``make bench-open``).

One run does, in order:

1. creates a fresh database (``--database``, default ``jinshu_bench_open``; dropped first) on
   the server at ``$JINSHU_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. generates a household-registration extract (``--rows``, default 1,000,000; seed 7) and
   ingests it through every stage (not timed: it only fills ``ds_household_registration``
   as production stores it, sensitive fields encrypted);
3. publishes that table as open *microdata* -- the household contract with an open spec:
   quasi-identifiers birth date (year, decade), sex, county (county, prefecture, province)
   and address (district, city), k = 5 -- exactly as the DAG's task does
   (:func:`jinshu.open.publisher.publish`: read with COPY, anonymize, CSV + JSON + Parquet,
   package, stamp, leak guard, write, pointer, page), then the DCAT-AP catalog and catalog
   page (:func:`jinshu.open.publisher.write_catalog`), timed end to end on the wall clock;
   a second pass times each phase on its own;
4. times two baselines on the same table: ``COPY (SELECT <the columns the publication
   reads>) TO STDOUT`` parsed by pyarrow and written once as Parquet (the target's
   baseline), and the same for the whole table (``COPY ds_household_registration``);
5. checks the published k from the files, prints a report with PASS/MISS against the
   target (within 4x of the baseline), writes it to ``bench/out/open-<timestamp>.json`` and
   drops the database and temporary home.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "jinshu_bench_open"
DATASET = "household_registration"
SEED = 7
OUT_DIR = Path(__file__).resolve().parent / "out"
MAX_RATIO = 4.0
PUBLIC_URL = "https://data.example.gov.cn/open"


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def recreate_database(admin_url: str, database: str, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def open_contract(contract):
    """The household registry as if it opened as microdata (for the benchmark only)."""
    from jinshu.catalog import OpenSpec

    spec = OpenSpec.model_validate({
        "class": "open", "licence": "CC-BY-4.0", "theme": "SOCI", "k": 5, "max_suppression": 0.05,
        "quasi_identifiers": [{"field": "birth_date", "levels": ["year", "decade"]},
                              {"field": "sex"},
                              {"field": "county_code", "levels": ["county", "prefecture", "province"]},
                              {"field": "address", "levels": ["district", "city"]}]})
    return contract.model_copy(update={"open": spec})


def ingest(settings, contracts, rows: int) -> float:
    from jinshu import pipeline
    from jinshu.dev.generate import generate_extract
    from jinshu.store.objects import open_store

    contract = contracts[DATASET]
    name, data = generate_extract(contract, rows, seed=SEED)
    open_store(settings.landing_url).write(contract.landing_prefix + name, data)
    start = time.perf_counter()
    pipeline.run(settings, contracts, contract)
    return time.perf_counter() - start


def copy_to_parquet(pg_url: str, query: str, out: Path) -> tuple[float, int]:
    """The baseline: COPY (query) TO STDOUT, parsed by pyarrow, written once as Parquet."""
    start = time.perf_counter()
    buffer = io.BytesIO()
    with psycopg.connect(pg_url) as conn, conn.cursor().copy(
            f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    table = pacsv.read_csv(buffer)
    pq.write_table(table, out)
    return time.perf_counter() - start, table.num_rows


def phases(engine, store, contract) -> dict[str, float]:
    """Each step of one publication timed on its own (a second publication, not the measured one)."""
    from jinshu.open import product, publisher
    from jinshu.store import dialect

    out: dict[str, float] = {}

    def timed(name, fn):
        start = time.perf_counter()
        value = fn()
        out[name] = time.perf_counter() - start
        return value

    query = publisher.select_needed(contract, None)
    with engine.connect() as conn:
        frame = timed("read (COPY)", lambda: dialect.read_text_frame(conn, query))
    typed = timed("types", lambda: product.typed(frame, contract))
    made = timed("anonymize + standardize", lambda: product.build(typed, contract))
    now = datetime.now(UTC)
    files = timed("render CSV, JSON, Parquet, package, stamp",
                  lambda: publisher.render(contract, made, "phase-run", now, PUBLIC_URL))
    timed("leak guard", lambda: publisher.guard(contract, made, files, "phases/"))
    timed("write files", lambda: [store.write(f"phases/{n}", d) for n, d in files.items()])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default=BENCH_DB)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    admin = os.environ.get("JINSHU_BENCH_PG_URL", DEFAULT_PG_URL)
    pg_url = with_database(admin, args.database)
    recreate_database(admin, args.database)
    home = Path(tempfile.mkdtemp(prefix="jinshu-open-bench-"))
    try:
        return run(args, admin, pg_url, home)
    finally:
        recreate_database(admin, args.database, drop_only=True)
        shutil.rmtree(home, ignore_errors=True)


def run(args, admin: str, pg_url: str, home: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from jinshu.catalog import load_catalog
    from jinshu.open import anonymize, publisher, site
    from jinshu.settings import DEFAULT_CATALOG_DIR
    from jinshu.store.engine import engine_for
    from jinshu.store.objects import open_store
    from jinshu.store.tables import dataset_table
    from tests.helpers import make_settings

    settings = make_settings(home / "home", store_url=pg_url)
    contracts = load_catalog(DEFAULT_CATALOG_DIR)
    print(f"ingesting {args.rows:,} generated rows of {DATASET} (not timed) ...", flush=True)
    ingest_seconds = ingest(settings, contracts, args.rows)
    contract = open_contract(contracts[DATASET])
    engine, store = engine_for(pg_url), open_store(str(home / "open-data"))

    start = time.perf_counter()
    rows = publisher.publish(engine, store, contract, datetime.now(UTC), public_url=PUBLIC_URL)
    published = time.perf_counter() - start
    start = time.perf_counter()
    publisher.write_catalog(store, [contract], datetime.now(UTC), PUBLIC_URL)
    catalog = time.perf_counter() - start
    total = published + catalog

    table = dataset_table(contract)
    needed = ", ".join(f'"{n}"' for n in publisher.needed_columns(contract))
    baseline, baseline_rows = copy_to_parquet(pg_url, f"SELECT {needed} FROM {table.name}",
                                              home / "baseline.parquet")
    whole, whole_rows = copy_to_parquet(pg_url, f"SELECT * FROM {table.name}", home / "whole.parquet")
    steps = phases(engine, store, contract)

    latest = site.pointer(store, contract.id)
    files = {o.key.rsplit("/", 1)[1]: o.size for o in store.list(latest["path"])}
    package = json.loads(store.read(latest["path"] + "datapackage.json"))
    csv = pacsv.read_csv(io.BytesIO(store.read(f"{latest['path']}{contract.id}.csv"))).to_pandas()
    k = anonymize.achieved_k(csv.astype(str), contract.open.qi_names)
    ratio = total / baseline
    result = {
        "rows": args.rows, "published_rows": rows, "started_at": datetime.now(UTC).isoformat(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_1m": os.getloadavg()[0]},
        "ingest_seconds_not_timed": round(ingest_seconds, 2),
        "publish_seconds": round(published, 2), "catalog_seconds": round(catalog, 2),
        "end_to_end_seconds": round(total, 2), "phases": {k_: round(v, 2) for k_, v in steps.items()},
        "baseline_copy_parquet_seconds": round(baseline, 2), "baseline_rows": baseline_rows,
        "whole_table_copy_parquet_seconds": round(whole, 2), "whole_table_rows": whole_rows,
        "files_bytes": files, "k_required": contract.open.k, "k_from_csv": k,
        "package_k": package["jinshu"]["k_anonymity"],
        "suppressed_rows": package["jinshu"]["suppressed_rows"],
        "levels": package["jinshu"]["anonymization"]["quasi_identifiers"],
        "targets": {"end_to_end_over_baseline": {"value": round(ratio, 2), "target": MAX_RATIO,
                                                 "met": ratio <= MAX_RATIO}},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"open-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"\nopen-data publication of {args.rows:,} rows ({rows:,} published, "
          f"{result['suppressed_rows']:,} suppressed, k = {k} >= {contract.open.k}; "
          f"levels {result['levels']})")
    for name, seconds in steps.items():
        print(f"  {name:<44} {seconds:7.2f} s")
    print(f"  {'publish, end to end (the task)':<44} {published:7.2f} s")
    print(f"  {'catalog and pages':<44} {catalog:7.2f} s")
    print(f"  {'total':<44} {total:7.2f} s")
    print(f"  {'baseline: COPY of those columns -> Parquet':<44} {baseline:7.2f} s")
    print(f"  {'for reference: COPY of the whole table -> Parquet':<44} {whole:7.2f} s")
    verdict = "PASS" if ratio <= MAX_RATIO else "MISS"
    print(f"  total / baseline = {ratio:.2f}x (target <= {MAX_RATIO}x): {verdict}")
    print(f"  files: {', '.join(f'{n} {s / 1e6:.1f} MB' for n, s in files.items())}")
    print(f"written to {out}")
    ok = rows > 0 and k is not None and k >= contract.open.k and baseline_rows == whole_rows == args.rows
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
