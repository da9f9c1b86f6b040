"""Batch quality checks with real Great Expectations, and the reports built from them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from jinshu import quality
from jinshu.catalog import Contract
from jinshu.dev.generate import generate_extract, generate_frame
from jinshu.govern import scorecard
from jinshu.quality import records as quality_records
from jinshu.store import tables
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import batches, scope_violations

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
RAW_ID = re.compile(r"\d{17}[\dXx]")


def frame_for(contract: Contract, rows: int = 200, seed: int = 3) -> pd.DataFrame:
    """What the ingest hands over: field columns as ``str``, missing values as NA."""
    return generate_frame(contract, rows, seed).replace("", pd.NA)


def run(contract: Contract, frame: pd.DataFrame, *, previous_rows: int | None = 200,
        previous_at: datetime | None = NOW - timedelta(hours=3)) -> list[quality.QualityResult]:
    return quality.validate(frame, contract, quality.load_suite(contract), previous_rows,
                            previous_at, NOW)


def failed(results: list[quality.QualityResult]) -> dict[str, str]:
    return {r.expectation: r.severity for r in results if not r.success}


def test_clean_batches_pass_every_check(contracts: dict[str, Contract]) -> None:
    for contract in contracts.values():
        results = run(contract, frame_for(contract))
        assert failed(results) == {}, contract.id
        assert {"natural_key.unique", "row_count_change", "freshness"} <= {r.expectation for r in results}


def _null_id(frame: pd.DataFrame) -> None:
    frame.loc[4, "id_number"] = pd.NA


def _bad_phone(frame: pd.DataFrame) -> None:
    frame.loc[7, "phone"] = "0351-123"


def _unknown_county(frame: pd.DataFrame) -> None:
    frame.loc[9, "county_code"] = "149999"


def _duplicate_key(frame: pd.DataFrame) -> None:
    frame.loc[0, "id_number"] = frame.loc[1, "id_number"]


@pytest.mark.parametrize(("dataset", "plant", "expectation", "severity"), [
    ("household_registration", _null_id, "id_number.not_null", "critical"),
    ("minimum_living_allowance", _bad_phone, "phone.format", "warning"),
    ("household_registration", _unknown_county, "county_code.value_set", "critical"),
    ("household_registration", _duplicate_key, "natural_key.unique", "critical"),
])
def test_a_planted_problem_is_caught_by_its_expectation(
    contracts: dict[str, Contract], dataset: str, plant, expectation: str, severity: str
) -> None:
    contract = contracts[dataset]
    frame = frame_for(contract)
    plant(frame)
    results = run(contract, frame)
    assert failed(results) == {expectation: severity}
    result = next(r for r in results if r.expectation == expectation)
    assert result.unexpected_count >= 1
    assert quality.critical_failures(results) == ([result] if severity == "critical" else [])


def test_a_compound_key_duplicate_is_caught(contracts: dict[str, Contract]) -> None:
    contract = contracts["social_insurance_enrollment"]
    frame = frame_for(contract)
    frame.loc[0, ["id_number", "insurance_type"]] = frame.loc[1, ["id_number", "insurance_type"]].values
    results = run(contract, frame)
    assert failed(results) == {"natural_key.unique": "critical"}
    sample = next(r for r in results if r.expectation == "natural_key.unique").unexpected_sample
    assert sample and all("id_number=1*" in s and "insurance_type=" in s for s in sample)


def test_batch_checks_warn_on_a_halved_batch_and_on_stale_data(contracts: dict[str, Contract]) -> None:
    contract = contracts["household_registration"]  # daily: 36 hours allowed
    frame = frame_for(contract)
    assert failed(run(contract, frame, previous_rows=450)) == {"row_count_change": "warning"}
    assert failed(run(contract, frame, previous_at=NOW - timedelta(days=3))) == {"freshness": "warning"}
    # no previous batch: nothing to compare with; a naive timestamp (SQLite) reads as UTC
    assert failed(run(contract, frame, previous_rows=None, previous_at=None)) == {}
    naive = (NOW - timedelta(hours=30)).replace(tzinfo=None)
    assert failed(run(contract, frame, previous_at=naive)) == {}


def test_samples_are_masked_and_never_show_an_id_number(contracts: dict[str, Contract]) -> None:
    contract = contracts["household_registration"]
    frame = frame_for(contract)
    raw = frame.loc[1, "id_number"]
    _duplicate_key(frame)
    frame.loc[5, "id_number"] = raw[:17].lower() + "x" if raw.endswith("X") else raw[:17] + "x"
    frame.loc[6, "birth_date"] = "1899-12-31"  # the hand-written extra: plausible birth date
    results = run(contract, frame)
    assert failed(results) == {"id_number.format": "critical", "natural_key.unique": "critical",
                               "birth_date.plausible": "critical"}
    for r in results:
        assert not RAW_ID.search(json.dumps(r.unexpected_sample) + (r.observed_value or ""))
    unique = next(r for r in results if r.expectation == "natural_key.unique")
    assert unique.unexpected_sample == [raw[0] + "*" * 16 + raw[-1]]
    birth = next(r for r in results if r.expectation == "birth_date.plausible")
    assert birth.unexpected_sample == ["1899"]  # personal date: only the year is shown


def test_write_suites_regenerates_and_keeps_hand_written_extras(
    contracts: dict[str, Contract], tmp_path: Path
) -> None:
    paths = quality.write_suites(contracts, tmp_path)
    assert sorted(p.stem for p in paths) == sorted(contracts)
    path = tmp_path / "household_registration.json"
    suite = json.loads(path.read_text(encoding="utf-8"))
    extra = {"id": "name.short", "type": "ExpectColumnValueLengthsToBeBetween",
             "kwargs": {"column": "name", "min_value": 1, "max_value": 20}, "severity": "warning"}
    suite["extra"] = [extra]
    suite["generated"] = suite["generated"][:1]  # a stale generated part
    path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    assert quality.stale_suites(contracts, tmp_path) == ["household_registration"]
    quality.write_suites(contracts, tmp_path)
    again = json.loads(path.read_text(encoding="utf-8"))
    assert again["extra"] == [extra]
    assert again["generated"] == quality.generate_suite(contracts["household_registration"])["generated"]
    assert quality.stale_suites(contracts, tmp_path) == []
    contract = contracts["household_registration"]
    results = quality.validate(frame_for(contract), contract, quality.load_suite(contract, tmp_path),
                               None, None, NOW)
    assert next(r for r in results if r.expectation == "name.short").success


def test_committed_suites_match_the_contracts(contracts: dict[str, Contract]) -> None:
    assert quality.stale_suites(contracts) == []
    extras = [e for c in contracts.values() for e in quality.load_suite(c)["extra"]]
    assert extras


def test_generated_suite_entries(contracts: dict[str, Contract]) -> None:
    suite = quality.generate_suite(contracts["social_insurance_enrollment"])
    entries = {e["id"]: e for e in suite["generated"]}
    assert entries["id_number.format"]["kwargs"]["regex"] == r"^[0-9]{17}[0-9X]$"
    assert entries["employer_uscc.format"]["severity"] == "critical"
    assert entries["phone.format"]["severity"] == "warning"
    assert entries["natural_key.unique"] == {
        "id": "natural_key.unique", "type": "ExpectCompoundColumnsToBeUnique",
        "kwargs": {"column_list": ["id_number", "insurance_type"]}, "severity": "critical"}
    assert "140105" in entries["county_code.value_set"]["kwargs"]["value_set"]
    allowance_suite = quality.generate_suite(contracts["minimum_living_allowance"])
    allowance = {e["id"]: e for e in allowance_suite["generated"]}
    assert allowance["household_size.between"]["kwargs"] == {
        "column": "household_size", "min_value": 1, "max_value": 20}
    assert allowance["freshness"]["kwargs"]["max_age_hours"] == 31 * 24
    json.dumps(suite)


def _store_batch(conn: sa.Connection, contract: Contract, batch_id: str, received: datetime,
                 results: list[quality.QualityResult]) -> None:
    conn.execute(batches.insert().values(
        batch_id=batch_id, dataset_id=contract.id, department=contract.department.code,
        file_key=f"{contract.landing_prefix}{batch_id}.csv", file_checksum="0" * 64, file_size=1,
        file_modified=received, received_at=received, status="loaded", rows_in=200, stored=200,
        duplicates=0, quarantined=0, finished_at=received))
    quality_records.store_results(conn, batch_id, contract.id, results, received)


def test_reports_show_a_failing_batch_without_raw_ids(
    contracts: dict[str, Contract], tmp_path: Path
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'central.db'}")
    ensure_schema(engine, contracts)
    household = contracts["household_registration"]
    clean = run(household, frame_for(household))
    broken = frame_for(household, seed=4)
    _duplicate_key(broken)
    _unknown_county(broken)
    failing = run(household, broken)
    with engine.begin() as conn:
        _store_batch(conn, household, "household_registration-a", NOW - timedelta(hours=30), clean)
        _store_batch(conn, household, "household_registration-b", NOW - timedelta(hours=2), failing)
        quality_records.store_results(conn, "household_registration-b", household.id, failing, NOW)  # retry
        conn.execute(scope_violations.insert().values(
            batch_id="household_registration-b", column_header="备注", dataset_id=household.id,
            department=household.department.code, file_key="x.csv", non_empty_values=12, seen_at=NOW))
        stored = conn.execute(sa.select(sa.func.count()).select_from(tables.quality_results)).scalar()
    assert stored == 2 * len(clean)

    paths = scorecard.build_reports(engine, tmp_path / "reports", contracts, now=NOW)
    page = paths["scorecard"].read_text(encoding="utf-8")
    assert "natural_key.unique" in page and "county_code.value_set" in page
    assert "数据质量记分卡" in page and "<svg" in page and "<script" not in page
    assert "备注" in page  # the scope violation
    assert "vaccination_sites" in page and "逾期" in page  # never received: late
    assert paths["data_docs"].exists()
    html_files = list((tmp_path / "reports").rglob("*.html"))
    assert len(html_files) >= 3
    for file in html_files:
        assert not RAW_ID.search(file.read_text(encoding="utf-8")), file
    assert any("household_registration-b" in f.read_text(encoding="utf-8") for f in html_files
               if "data-docs" in f.parts)

    summary = scorecard.quality_summary(engine, contracts, now=NOW)
    assert {f["expectation"] for f in summary["open_critical"]} == {"natural_key.unique",
                                                                   "county_code.value_set"}
    by_id = {d["dataset_id"]: d for d in summary["datasets"]}
    assert by_id["household_registration"]["batches_validated"] == 2
    assert not by_id["household_registration"]["late"] and by_id["vaccination_sites"]["late"]
    json.dumps(summary)
    text = scorecard.render_quality_text(engine, contracts, now=NOW)
    assert "natural_key.unique" in text and "LATE" in text


def test_pass_rate_query_runs_on_postgres(contracts: dict[str, Contract], pg_url: str) -> None:
    from jinshu.store.engine import engine_for

    engine = engine_for(pg_url)
    ensure_schema(engine, contracts)
    contract = contracts["vaccination_sites"]
    results = [quality.QualityResult("site_code.not_null", "critical", True),
               quality.QualityResult("phone.format", "warning", False, unexpected_count=2)]
    with engine.begin() as conn:
        _store_batch(conn, contract, "vaccination_sites-a", NOW, results)
    with engine.connect() as conn:
        rows = scorecard.pass_rates(conn, contracts)
    assert [(r["dataset_id"], r["passed"], r["warning_failed"], r["pass_rate"]) for r in rows] == [
        ("vaccination_sites", 1, 1, 50.0)]
    assert rows[0]["department"] == "sx_weijian"


def test_scorecard_escapes_markup_in_a_dataset_title_and_a_scope_violation_header(
    contracts: dict[str, Contract], tmp_path: Path
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'central.db'}")
    ensure_schema(engine, contracts)
    sites = contracts["vaccination_sites"]
    hostile = {**contracts, sites.id: sites.model_copy(update={"title": "接种点<script>alert(1)</script>"})}
    results = [quality.QualityResult("phone.format", "warning", False, unexpected_count=1,
                                     unexpected_sample=["<img src=x onerror=alert(2)>"])]
    with engine.begin() as conn:
        _store_batch(conn, sites, "vaccination_sites-a", NOW - timedelta(hours=1), results)
        conn.execute(scope_violations.insert().values(
            batch_id="vaccination_sites-a", column_header='<script>alert("列")</script>', dataset_id=sites.id,
            department=sites.department.code, file_key="x.csv", non_empty_values=3, seen_at=NOW))

    page = scorecard.render_scorecard(scorecard.collect(engine, hostile, now=NOW))
    assert "<script" not in page and "<img" not in page
    assert "接种点&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the title, shown as text
    assert "&lt;script&gt;alert(&#34;列&#34;)&lt;/script&gt;" in page  # the undeclared column header
    assert "&lt;img src=x onerror=alert(2)&gt;" in page  # a (masked) sample


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_report_sql_files_give_last_load_scope_and_exchange_on_both_stores(
    contracts: dict[str, Contract], tmp_path: Path, request: pytest.FixtureRequest, store: str
) -> None:
    from jinshu.govern.report import query
    from jinshu.store.engine import engine_for

    url = f"sqlite:///{tmp_path / 'central.db'}" if store == "sqlite" else request.getfixturevalue("pg_url")
    engine = engine_for(url)
    ensure_schema(engine, contracts)
    sites = contracts["vaccination_sites"]
    passed = [quality.QualityResult("site_code.not_null", "critical", True)]
    with engine.begin() as conn:
        _store_batch(conn, sites, "vaccination_sites-a", NOW - timedelta(days=3), passed)
        _store_batch(conn, sites, "vaccination_sites-b", NOW - timedelta(hours=5), passed)
        conn.execute(batches.update().where(batches.c.batch_id == "vaccination_sites-b")
                     .values(status="quarantined"))
        for batch_id, values in (("vaccination_sites-a", 4), ("vaccination_sites-b", 6)):
            conn.execute(scope_violations.insert().values(
                batch_id=batch_id, column_header="备注", dataset_id=sites.id, file_key="x.csv",
                department=sites.department.code, non_empty_values=values, seen_at=NOW - timedelta(hours=1)))
        for dataset, rows, channel in (("b", 5, "exchange"), ("a", 7, "open_data"), ("a", 9, "exchange")):
            conn.execute(tables.publications.insert().values(
                channel=channel, dataset_id=dataset, published_at=NOW, rows=rows, location="x"))

    facts = scorecard.collect(engine, contracts, now=NOW)
    [site] = [d for d in facts["datasets"] if d["dataset_id"] == sites.id]
    assert site["last_received"] == NOW - timedelta(days=3)  # the quarantined batch does not count
    assert facts["scope"] == [{"department": sites.department.code, "dataset_id": sites.id,
                               "column_header": "备注", "batches": 2, "non_empty_values": 10,
                               "last_seen": NOW - timedelta(hours=1)}]
    with engine.connect() as conn:
        assert [(r["dataset_id"], r["rows"]) for r in query(conn, "exchange_publications.sql")] == [
            ("b", 5), ("a", 9)]


def test_reports_in_a_bucket_are_built_where_no_later_run_depends_on_one_workers_disk(
        pg_url, tmp_path, contracts, s3_buckets, s3_endpoint, monkeypatch):
    """Two workers that share no folder: each build leaves nothing on its host, and an old
    copy lying on a worker's disk never overwrites the newer report in the bucket."""
    import shutil

    from jinshu import tasks
    from jinshu.store.objects import open_store
    from tests.helpers import ingest_file, make_settings

    sites = contracts["vaccination_sites"]
    first = make_settings(tmp_path / "a", store_url=pg_url, landing_url=s3_buckets["landing"],
                          s3_endpoint_url=s3_endpoint)
    shutil.copytree(first.keys_dir, tmp_path / "b" / "keys")  # one keyring per deployment
    hosts = [first, make_settings(tmp_path / "b", store_url=pg_url,
                                  landing_url=s3_buckets["landing"], s3_endpoint_url=s3_endpoint)]
    stale = hosts[1].quality_dir / "scorecard.html"  # what an earlier build left on host b
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    bucket = open_store(s3_buckets["quality"], s3_endpoint)
    for settings, seed in zip(hosts, (4, 5), strict=True):
        for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": pg_url,
                           "JINSHU_LANDING_URL": s3_buckets["landing"],
                           "JINSHU_QUALITY_URL": s3_buckets["quality"],
                           "JINSHU_S3_ENDPOINT_URL": s3_endpoint}.items():
            monkeypatch.setenv(key, str(value))
        name, data = generate_extract(sites, 15, seed=seed)
        ingest_file(settings, contracts, sites, name, data)
        assert tasks.build_quality_reports() == f"{s3_buckets['quality']}/scorecard.html"
        folder = settings.quality_dir
        left = sorted(p.name for p in folder.rglob("*")) if folder.exists() else []
        assert left == (["scorecard.html"] if settings is hosts[1] else [])
    page = bucket.read("scorecard.html").decode()
    assert page != "stale" and sites.title in page
    assert stale.read_text() == "stale"  # untouched, and not uploaded
    docs = [o.key for o in bucket.list("data-docs/validations/")]
    assert len(docs) == 2 and all(sites.id in key for key in docs)  # both batches, no leftovers
