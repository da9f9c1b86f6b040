"""Retention: raw extracts, quarantined files and stage folders go when their contract says,
from local folders and S3 alike, and every sweep is audited without a file name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import yaml

from jinshu.catalog import ContractError, Retention, load_contract
from jinshu.govern import audit, retention
from jinshu.ingest import stages
from jinshu.settings import DEFAULT_CATALOG_DIR
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.tables import audit_log
from tests.helpers import STAGES, drop, ingest_file, make_settings, outcome_of

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地行政区划代码,住址,登记日期\n"
ROW = "140105199803071232,张伟,1,1998-03-07,汉族,140105,山西省太原市小店区坞城路1号,2020-01-02\n"
CLEAN = (HEADER + ROW).encode()
PERSONAL_NAME = "张伟户籍.csv"  # a department may name a file after a person


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


def landing_keys(settings, prefix: str = "") -> list[str]:
    return [o.key for o in open_store(settings.landing_url, settings.s3_endpoint_url).list(prefix)]


def sweeps(settings) -> list[dict]:
    with engine_for(settings.store_url).connect() as conn:
        return [json.loads(r.details) for r in conn.execute(
            sa.select(audit_log).where(audit_log.c.action == "retention_sweep")
            .order_by(audit_log.c.seq))]


def later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def test_contracts_default_to_30_180_and_2_days_and_may_say_otherwise(tmp_path):
    source = DEFAULT_CATALOG_DIR / "sx_gongan" / "household_registration.yaml"
    shipped = load_contract(source)
    assert shipped.retention == Retention(raw_extract_days=30, quarantine_days=180,
                                          stage_file_days=2)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["retention"] = {"raw_extract_days": 7}
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert load_contract(path).retention == Retention(raw_extract_days=7)
    raw["retention"] = {"raw_extract_days": -1}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractError, match="raw_extract_days"):
        load_contract(path)


def test_raw_extracts_of_closed_batches_go_after_their_period_and_new_drops_stay(
        settings, contracts, household):
    done = ingest_file(settings, contracts, household, PERSONAL_NAME, CLEAN)
    waiting = drop(settings, household, "not-yet-discovered.csv", CLEAN)
    assert retention.sweep(settings, contracts, later(29)).total == 0
    assert len(landing_keys(settings, household.landing_prefix)) == 2
    swept = retention.sweep(settings, contracts, later(31))
    assert landing_keys(settings, household.landing_prefix) == [waiting]
    assert swept.removed == {household.id: {"raw_extracts": 1, "quarantined_files": 0,
                                            "stage_folders": 0}}
    last = sweeps(settings)[-1]
    assert last["batches"] == {household.id: [done.batch.batch_id]}
    assert "张伟" not in json.dumps(last, ensure_ascii=False)  # batch ids, never file names
    assert retention.sweep(settings, contracts, later(32)).total == 0  # nothing more to do
    with engine_for(settings.store_url).connect() as conn:
        assert audit.verify(conn).intact


def test_quarantined_files_are_kept_180_days_then_go_and_their_row_says_so(
        settings, contracts, household):
    result = ingest_file(settings, contracts, household, "empty.csv", b"")
    [archive] = landing_keys(settings, retention.ARCHIVES)
    retention.sweep(settings, contracts, later(31))  # the raw extract goes first
    assert landing_keys(settings) == [archive]
    swept = retention.sweep(settings, contracts, later(181))
    assert swept.removed[household.id]["quarantined_files"] == 1
    assert landing_keys(settings) == []
    [row] = outcome_of(settings, result.batch.file_key).quarantine
    assert row.original.endswith("retention period over") and row.message == result.quarantine[0].message


def test_stage_folders_left_by_a_failed_stage_go_after_two_days_or_at_once_when_closed(
        settings, contracts, household):
    done = ingest_file(settings, contracts, household, "done.csv", CLEAN)
    drop(settings, household, "half.csv", (HEADER + ROW.replace("张伟", "李娜")).encode())
    [stuck] = stages.discover(settings, household, contracts)
    STAGES[0](settings, household, stuck)  # read ran; the next stage failed and left it open
    leftover = settings.work_dir / done.batch.batch_id
    leftover.mkdir(mode=0o700)  # a closed batch's folder a crash left behind
    (leftover / "read.arrow").write_bytes(b"clear values")
    swept = retention.sweep(settings, contracts, later(1))
    assert swept.removed[household.id]["stage_folders"] == 1
    assert not leftover.exists() and (settings.work_dir / stuck).exists()
    retention.sweep(settings, contracts, later(2.1))
    assert not (settings.work_dir / stuck).exists()
    assert sweeps(settings)[-1]["batches"] == {household.id: [stuck]}


def test_a_contract_with_a_shorter_period_is_swept_sooner(settings, contracts, household):
    short = household.model_copy(update={"retention": Retention(raw_extract_days=0)})
    ingest_file(settings, contracts, short, "now.csv", CLEAN)
    assert retention.sweep(settings, contracts, later(1)).total == 0
    swept = retention.sweep(settings, {**contracts, short.id: short}, later(1))
    assert swept.removed[short.id]["raw_extracts"] == 1


def test_the_sweep_removes_expired_objects_from_s3(tmp_path, s3_buckets, s3_endpoint, contracts,
                                                   household):
    settings = make_settings(tmp_path / "home", landing_url=s3_buckets["landing"],
                             s3_endpoint_url=s3_endpoint)
    ingest_file(settings, contracts, household, "clean.csv", CLEAN)
    ingest_file(settings, contracts, household, "broken.xlsx", b"PK\x03\x04 not a workbook")
    assert len(landing_keys(settings)) == 3  # two extracts and one sealed copy
    swept = retention.sweep(settings, contracts, later(181))
    assert swept.removed[household.id] == {"raw_extracts": 2, "quarantined_files": 1,
                                           "stage_folders": 0}
    assert landing_keys(settings) == []
