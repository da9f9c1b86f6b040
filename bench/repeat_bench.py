"""Benchmark of repeat-collection detection (``make bench-repeat``): exact detection over five
datasets of 1,000,000 subjects each on PostgreSQL, against one plain PostgreSQL hash join of two
of those tables, measured in the same run.

1. (Re)creates the database ``jinshu_bench_repeat`` on ``$JINSHU_BENCH_PG_URL`` (default the
   local server) and the tables of five datasets, as the ingest creates them
   (``jinshu.store.tables.dataset_table``: encrypted ID envelopes, blind indexes, pseudonyms,
   lineage): household registration (authority for person.*), social insurance (collects
   name, sex and birth date; keyed per insurance type, so it is reduced per subject first),
   the minimum living allowance (collects the name), enterprise registration (authority for
   org.*) and a tax credit rating (a bench contract collecting the enterprise's name and legal
   representative). Rows are generated in SQL (``INSERT ... SELECT generate_series``), not
   through the ingest, with planted overlaps and conflicting values.
2. ``VACUUM ANALYZE``, ``CHECKPOINT``, one warm-up of each query.
3. ``--rounds`` rounds, alternating: the baseline ``SELECT count(*)`` of household registration
   joined to social insurance on ``_subject_key`` (a Hash Join: merge join and nested loops are
   switched off for it, so the planner cannot pick the indexes), then the exact detection
   (``jinshu.repeat.detect.measure``: every overlap of the catalog, one query per dataset pair:
   three, after asking whether social insurance holds several records for a subject), and
   social insurance on the grouped path it would take if it did. Medians.
4. Checks the detection's counts against the planted ones, times one whole run as the DAG
   does it (``detect.run``: measure, store the findings, audit), prints the figures and writes
   them to ``bench/out/repeat-<stamp>.json``.

Target: the exact detection within 5x the baseline join.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import yaml
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "jinshu_bench_repeat"
OUT_DIR = Path(__file__).resolve().parent / "out"
TARGET = 5.0
BASELINE_SQL = ("SELECT count(*) FROM ds_household_registration AS h "
                "JOIN ds_social_insurance_enrollment AS s ON s._subject_key = h._subject_key")

TAX = {
    "id": "tax_credit_rating", "title": "纳税信用等级评价结果",
    "department": {"code": "sx_shuiwu", "name": "国家税务总局山西省税务局"},
    "subject": "organization", "subject_key": "uscc", "natural_key": ["uscc"],
    "update_cycle": "monthly", "sharing": {"class": "unconditional"},
    "open": {"class": "not_open"},
    "fields": [
        {"name": "uscc", "title": "统一社会信用代码", "format": "uscc", "required": True,
         "sensitivity": "public", "basis": {"law": "纳税信用管理办法 第三十六条"}},
        {"name": "enterprise_name", "title": "纳税人名称", "concept": "org.name",
         "sensitivity": "public", "basis": {"law": "纳税信用管理办法 第三十六条"}},
        {"name": "legal_representative", "title": "法定代表人", "concept": "org.legal_representative",
         "sensitivity": "personal", "basis": {"law": "纳税信用管理办法 第三十六条"}},
        {"name": "credit_level", "title": "纳税信用级别", "values": {"A": "A级", "B": "B级"},
         "required": True, "sensitivity": "public", "basis": {"law": "纳税信用管理办法 第二十三条"}},
    ],
}

# SQL expressions over ``s`` (the subject's number) and ``i`` (the row's).
PERSON_KEY = "md5('p' || s) || md5('P' || s)"
ORG_KEY = "md5('o' || s) || md5('O' || s)"
ENVELOPE = "'k1:v2:' || encode(decode(md5('e' || s) || md5('f' || s) || md5('g' || s), 'hex'), 'base64')"
LINEAGE = {"_record_hash": "md5('r' || i || '{table}')", "_batch_id": "'bench-{table}'",
           "_source_row": "i", "_acquired_at": "now()", "_valid_from": "now()"}
NAME = "'姓名' || s"
OVERLAP = {"social_insurance_enrollment": 0.7, "minimum_living_allowance": 0.5,
           "tax_credit_rating": 0.8}
CONFLICT_EVERY = {("social_insurance_enrollment", "name"): 100,
                  ("minimum_living_allowance", "name"): 50,
                  ("tax_credit_rating", "enterprise_name"): 40,
                  ("tax_credit_rating", "legal_representative"): 200}


def columns(n: int) -> dict[str, dict[str, str]]:
    """Per dataset: column -> SQL expression over ``s`` and ``i``; conflicting values planted
    every ``CONFLICT_EVERY`` rows among the subjects the authority holds."""
    def clash(dataset: str, field: str, value: str) -> str:
        every = CONFLICT_EVERY[(dataset, field)]
        return f"CASE WHEN i % {every} = 0 THEN {value} || '某' ELSE {value} END"

    person = {"sex": "((s % 2) + 1)::text", "birth_date": "date '1950-01-01' + (s % 25000)::int",
              "county_code": "'140105'"}
    return {
        "household_registration": {
            "id_number": ENVELOPE, "name": NAME, **person, "ethnicity": ENVELOPE,
            "address": "'山西省太原市小店区坞城路' || s || '号'", "registered_on": "date '2020-01-01'",
            "_bidx_ethnicity": "md5('m' || (s % 56)) || md5('M' || (s % 56))",
            "_subject_key": PERSON_KEY},
        "social_insurance_enrollment": {
            "id_number": ENVELOPE, "name": clash("social_insurance_enrollment", "name", NAME),
            **person, "insurance_type": "'110'", "enrolled_on": "date '2021-03-01'",
            "employer_uscc": "'91140105' || lpad(s::text, 10, '0')",
            "phone": "'138' || lpad((s % 100000000)::text, 8, '0')", "_subject_key": PERSON_KEY},
        "minimum_living_allowance": {
            "id_number": ENVELOPE, "name": clash("minimum_living_allowance", "name", NAME),
            "county_code": "'140105'", "household_size": "1 + s % 5",
            "allowance_yuan": "600 + s % 300", "start_month": "date '2024-01-01'",
            "_subject_key": PERSON_KEY},
        "enterprise_registration": {
            "uscc": "'91140' || lpad(s::text, 13, '0')", "enterprise_name": "'企业' || s",
            "legal_representative": NAME, "enterprise_type": "'1100'",
            "registered_capital_wan_yuan": "100 + s % 1000", "established_on": "date '2010-05-01'",
            "county_code": "'140105'", "address": "'山西省太原市迎泽区' || s || '号'",
            "status": "'1'", "_subject_key": ORG_KEY},
        "tax_credit_rating": {
            "uscc": "'91140' || lpad(s::text, 13, '0')",
            "enterprise_name": clash("tax_credit_rating", "enterprise_name", "'企业' || s"),
            "legal_representative": clash("tax_credit_rating", "legal_representative", NAME),
            "credit_level": "'A'", "_subject_key": ORG_KEY},
    }


def subject_of(dataset: str, n: int) -> str:
    """Row ``i``'s subject: the authority's subject ``i`` for the overlapping share, else new."""
    share = OVERLAP.get(dataset)
    return "i" if share is None else f"CASE WHEN i <= {int(n * share)} THEN i ELSE {n} + i END"


def expected(n: int) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(dataset, concept) -> (subjects, subjects twice, conflicts), as planted."""
    def planted(dataset: str, field: str | None) -> tuple[int, int, int]:
        shared = int(n * OVERLAP[dataset])
        return n, shared, shared // CONFLICT_EVERY[(dataset, field)] if field else 0

    return {("social_insurance_enrollment", "person.name"): planted("social_insurance_enrollment", "name"),
            ("social_insurance_enrollment", "person.sex"): planted("social_insurance_enrollment", None),
            ("social_insurance_enrollment", "person.birth_date"):
                planted("social_insurance_enrollment", None),
            ("minimum_living_allowance", "person.name"): planted("minimum_living_allowance", "name"),
            ("tax_credit_rating", "org.name"): planted("tax_credit_rating", "enterprise_name"),
            ("tax_credit_rating", "org.legal_representative"):
                planted("tax_credit_rating", "legal_representative")}


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def recreate(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def provision_keys(home: Path) -> None:
    """Keys an operator provisions: outside the embedded SQLite store jinshu never makes one."""
    keys = home / "keys"
    keys.mkdir(mode=0o700, parents=True)
    for name in ("pseudonym.key", "audit.key"):
        (keys / name).write_text(os.urandom(32).hex())
    (keys / "data-keys.json").write_text(json.dumps({"active": "k1", "keys": {"k1": os.urandom(32).hex()}}))


def bench_catalog(folder: Path) -> Path:
    """The shipped catalog plus the tax credit rating contract."""
    from jinshu.settings import DEFAULT_CATALOG_DIR

    shutil.copytree(DEFAULT_CATALOG_DIR, folder)
    (folder / "sx_shuiwu").mkdir()
    (folder / "sx_shuiwu" / "tax_credit_rating.yaml").write_text(
        yaml.safe_dump(TAX, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def generate(store_url: str, contracts: dict, n: int) -> dict[str, float]:
    """Fill the five tables in SQL; returns the seconds each took (key index included)."""
    from jinshu.protect import policy
    from jinshu.store import versions

    seconds = {}
    with psycopg.connect(store_url.replace("+psycopg", ""), autocommit=True) as conn:
        for dataset, exprs in columns(n).items():
            contract = contracts[dataset]
            started = time.perf_counter()
            lineage = {c: e.format(table=dataset) for c, e in LINEAGE.items()}
            names = [*exprs, *lineage]
            table = sql.Identifier(contract.table)
            key = sql.SQL(", ").join(map(sql.Identifier, policy.key_columns(contract)))
            index = sql.Identifier(versions.key_index_name(contract.table))
            conn.execute(sql.SQL("DROP INDEX {}").format(index))  # built again after the rows
            conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM (SELECT i, {} AS s FROM "
                                 "generate_series(1, {}) AS i) AS g").format(
                table, sql.SQL(", ").join(map(sql.Identifier, names)),
                sql.SQL(", ").join(sql.SQL(e) for e in [*exprs.values(), *lineage.values()]),
                sql.SQL(subject_of(dataset, n)), sql.Literal(n)))
            conn.execute(sql.SQL("CREATE UNIQUE INDEX {} ON {} ({}) WHERE {} IS NULL").format(
                index, table, key, sql.Identifier(versions.VALID_TO)))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
            seconds[dataset] = time.perf_counter() - started
            print(f"  {dataset:<30} {n:,} rows in {seconds[dataset]:5.1f} s", file=sys.stderr, flush=True)
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
    return seconds


def baseline(engine) -> tuple[float, int]:
    """One plain hash join of two of the tables: (seconds, rows joined)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_mergejoin = off")
        conn.exec_driver_sql("SET enable_nestloop = off")
        started = time.perf_counter()
        rows = conn.exec_driver_sql(BASELINE_SQL).scalar()
        return time.perf_counter() - started, rows


def detection(engine, contracts) -> tuple[float, list]:
    from jinshu.repeat import detect

    with engine.connect() as conn:
        started = time.perf_counter()
        found = detect.measure(conn, contracts)
        return time.perf_counter() - started, found


def grouped_social(engine, contracts) -> float:
    """Social insurance against the registry on the grouped path, the one a dataset holding
    several records per subject takes (this one holds one each, so detection skips it)."""
    from jinshu.repeat import detect
    from jinshu.repeat.overlap import by_pair, overlaps

    held = by_pair(overlaps(contracts))[("social_insurance_enrollment", "household_registration")]
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(detect.measure_query(held, grouped=True)).one()
        return time.perf_counter() - started


def plans(engine, contracts) -> dict[str, list[str]]:
    """The join and aggregate nodes PostgreSQL chose, per query."""
    from jinshu.repeat import detect
    from jinshu.repeat.overlap import by_pair, overlaps

    def nodes(conn, statement: str) -> list[str]:
        lines = conn.exec_driver_sql(f"EXPLAIN {statement}").scalars().all()
        return [line.strip().lstrip("-> ").split("  ")[0] for line in lines
                if any(k in line for k in ("Join", "Aggregate", "Gather", "Append"))]

    out = {}
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_mergejoin = off")
        conn.exec_driver_sql("SET enable_nestloop = off")
        out["baseline"] = nodes(conn, BASELINE_SQL)
    with engine.connect() as conn:
        for (collector, authority), held in by_pair(overlaps(contracts)).items():
            grouped = detect.several_records_per_subject(conn, held[0].holder.contract)
            query = detect.measure_query(held, grouped)
            compiled = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            out[f"detection ({collector} x {authority})"] = nodes(conn, str(compiled))
    return out


def machine(admin_url: str) -> dict:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        settings = {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
                    for name in ("server_version", "work_mem", "shared_buffers",
                                 "max_parallel_workers_per_gather")}
    return {"cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            **settings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=1_000_000, help="subjects per dataset")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)

    from jinshu.catalog import load_catalog, load_concepts
    from jinshu.govern import audit
    from jinshu.repeat import detect
    from jinshu.settings import Settings
    from jinshu.store.engine import engine_for
    from jinshu.store.schema import ensure_schema

    admin_url = os.environ.get("JINSHU_BENCH_PG_URL", DEFAULT_PG_URL)
    store_url = with_database(admin_url, args.database)
    home = Path(tempfile.mkdtemp(prefix="jinshu-bench-repeat-", dir="/tmp"))
    provision_keys(home)
    catalog_dir = bench_catalog(home / "catalog")
    settings = Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url,
                                  "JINSHU_CATALOG_DIR": str(catalog_dir)})
    audit.use_settings(settings)
    contracts = load_catalog(catalog_dir)
    before = machine(admin_url)
    recreate(admin_url, args.database)
    engine = engine_for(store_url)
    try:
        ensure_schema(engine, contracts)
        print(f"generating five datasets of {args.subjects:,} subjects in SQL ...", file=sys.stderr)
        made = generate(store_url, contracts, args.subjects)
        chosen = plans(engine, contracts)
        joined = baseline(engine)[1]  # warm-up, both
        detection(engine, contracts)
        base, detect_s, grouped = [], [], []
        for _ in range(args.rounds):
            base.append(baseline(engine)[0])
            seconds, found = detection(engine, contracts)
            detect_s.append(seconds)
            grouped.append(grouped_social(engine, contracts))
        got = {(f.overlap.holder.contract.id, f.overlap.concept):
               (f.collector_subjects, f.subjects_twice, f.conflicts) for f in found}
        want = expected(args.subjects)
        started = time.perf_counter()
        summary = detect.run(engine, contracts, load_concepts(catalog_dir), "bench",
                             datetime.now(UTC))
        whole = time.perf_counter() - started
        median_base, median_detect = statistics.median(base), statistics.median(detect_s)
        result = {
            "subjects_per_dataset": args.subjects, "rounds": args.rounds,
            "machine_before": before, "machine_after": machine(admin_url),
            "generate_seconds": made, "plans": chosen,
            "baseline_join_seconds": base, "baseline_rows_joined": joined,
            "detection_seconds": detect_s, "detection_run_seconds": whole,
            "grouped_social_seconds": grouped,
            "median_baseline": median_base, "median_detection": median_detect,
            "ratio": median_detect / median_base, "target_ratio": TARGET,
            "counts": {f"{d}/{c}": list(v) for (d, c), v in sorted(got.items())},
            "counts_as_planted": got == want, "summary": summary.as_dict(),
        }
    finally:
        engine.dispose()
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(args.database)))
        shutil.rmtree(home, ignore_errors=True)
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"repeat-{datetime.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"figures written to {path}")
    if not result["counts_as_planted"]:
        print(f"COUNTS DIFFER from the planted ones: {want}", file=sys.stderr)
        return 1
    return 0


def report(r: dict) -> None:
    m = r["machine_before"]
    print(f"\nrepeat-collection detection, five datasets of {r['subjects_per_dataset']:,} subjects "
          f"(PostgreSQL {m['server_version']}, {m['cpu_count']} cores, load average before "
          f"{m['load_average']}, after {r['machine_after']['load_average']}; work_mem "
          f"{m['work_mem']}, parallel workers per gather {m['max_parallel_workers_per_gather']})")
    print(f"  baseline: one hash join of two tables ({r['baseline_rows_joined']:,} rows joined): "
          + ", ".join(f"{s:.2f}" for s in r["baseline_join_seconds"])
          + f" s; median {r['median_baseline']:.2f} s")
    print("  exact detection (6 dataset-concept pairs, 3 queries): "
          + ", ".join(f"{s:.2f}" for s in r["detection_seconds"])
          + f" s; median {r['median_detection']:.2f} s")
    print(f"  ratio {r['ratio']:.2f}x (target <= {r['target_ratio']:.0f}x): "
          + ("MET" if r["ratio"] <= r["target_ratio"] else "NOT MET"))
    print(f"  a whole run as the DAG does it (measure, store, audit): {r['detection_run_seconds']:.2f} s")
    g = statistics.median(r["grouped_social_seconds"])
    print("  social insurance x household registration on the grouped path (what a dataset holding "
          f"several records per subject costs): {g:.2f} s median, {g / r['median_baseline']:.2f}x "
          "the baseline (one pair; detection above counts it record by record)")
    for name, nodes in r["plans"].items():
        print(f"  plan, {name}: {' / '.join(nodes)}")
    print("  counts (subjects, twice, conflicts) "
          + ("as planted" if r["counts_as_planted"] else "DIFFER from the planted ones") + ":")
    for pair, counts in r["counts"].items():
        print(f"    {pair:<50} {counts}")


if __name__ == "__main__":
    raise SystemExit(main())
