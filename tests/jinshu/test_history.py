"""Updates keep history (SQLite and PostgreSQL): versions with their validity and batch, an
unchanged re-send still a duplicate, only current versions served, every version erased,
re-encrypted and readable by the owning department, each read audited."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.cli.common import os_user
from jinshu.dev.generate import generate_frame, render_extract
from jinshu.govern import audit, history
from jinshu.open import publisher
from jinshu.protect import crypto, keys, rotation
from jinshu.protect.keys import data_keyring, save_local_keyring
from jinshu.share import exchange, principals
from jinshu.share.service import Exchange
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from tests.helpers import ingest_file, stored_records, table_rows
from tests.jinshu.open.conftest import version_files

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地行政区划代码,住址,登记日期\n"
ZHANG = "140105199803071232,张伟,1,1998-03-07,汉族,140105,山西省太原市小店区坞城路1号,2020-01-02"
LI = "14010520010815068X,李娜,2,2001-08-15,汉族,140105,山西省太原市小店区长风街2号,2021-05-06"
WANG = "11010519491231002X,王芳,2,1949-12-31,汉族,140105,,"
WANG_MOVED = "11010519491231002X,王芳,2,1949-12-31,回族,140105,山西省太原市迎泽区柳巷3号,"
WANG_ID = "11010519491231002X"


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode("utf-8")


def utc(moment: datetime | str | None) -> pd.Timestamp | None:
    """SQLite hands back naive datetimes (or text, read raw); they were stored in UTC."""
    if moment is None:
        return None
    moment = pd.Timestamp(moment)
    return moment if moment.tzinfo else moment.tz_localize(UTC)


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


def versions_of(settings, contract, id_number: str) -> list:
    return [r for r in stored_records(settings, contract, every_version=True)
            if r.id_number == id_number]


def assert_adds_up(batch) -> None:
    assert batch.rows_in == batch.stored + batch.duplicates + batch.quarantined


def test_an_update_keeps_the_earlier_version_with_its_validity_and_batch(settings, contracts,
                                                                         household):
    first = ingest_file(settings, contracts, household, "a.csv", csv(ZHANG, LI, WANG)).batch
    second = ingest_file(settings, contracts, household, "b.csv", csv(ZHANG, WANG_MOVED)).batch
    assert (second.rows_in, second.stored, second.duplicates) == (2, 1, 1)
    earlier, now = versions_of(settings, household, WANG_ID)
    assert (earlier.ethnicity, earlier.address, earlier._batch_id) == ("汉族", None, first.batch_id)
    assert (now.ethnicity, now.address, now._batch_id) == ("回族", "山西省太原市迎泽区柳巷3号",
                                                          second.batch_id)
    # Valid from the load of the batch that brought it until the load of the one that replaced it.
    assert utc(earlier._valid_from) == utc(first.finished_at)
    assert utc(earlier._valid_to) == utc(now._valid_from) == utc(second.finished_at)
    assert now._valid_to is None
    assert utc(earlier._acquired_at) == utc(first.received_at)
    assert utc(now._acquired_at) == utc(second.received_at)
    current = {r.id_number: r for r in stored_records(settings, household)}
    assert current[WANG_ID].ethnicity == "回族" and len(current) == 3
    # Every version is stored by exactly one batch: the table holds what the ledger says.
    assert len(table_rows(settings, household.table)) == first.stored + second.stored == 4
    with engine_for(settings.store_url).connect() as conn:
        details = json.loads(conn.execute(sa.select(audit.audit_log.c.details).where(
            audit.audit_log.c.subject == second.batch_id)).scalar())
    assert (details["stored"], details["duplicates"], details["replaced"]) == (1, 1, 1)


def test_an_unchanged_resend_is_a_duplicate_of_the_current_version_not_a_version(
        settings, contracts, household):
    ingest_file(settings, contracts, household, "a.csv", csv(ZHANG, LI, WANG))
    again = ingest_file(settings, contracts, household, "a-reordered.csv", csv(WANG, LI, ZHANG)).batch
    assert (again.status, again.rows_in, again.stored, again.duplicates) == ("loaded", 3, 0, 3)
    assert len(table_rows(settings, household.table)) == 3
    assert all(r._valid_to is None for r in stored_records(settings, household, every_version=True))
    hashes = {r._record_hash for r in stored_records(settings, household)}
    twins = {r.record_hash for r in table_rows(settings, "duplicates") if r.batch_id == again.batch_id}
    assert twins == hashes


def test_a_record_changed_back_is_a_new_version_and_sent_again_a_duplicate(settings, contracts,
                                                                          household):
    bom = b"\xef\xbb\xbf"  # the same records in other bytes: not a repeat drop of the file
    batches = [ingest_file(settings, contracts, household, name, data).batch
               for name, data in (("a.csv", csv(WANG)), ("b.csv", csv(WANG_MOVED)),
                                  ("c.csv", bom + csv(WANG)))]
    assert [(b.stored, b.duplicates) for b in batches] == [(1, 0), (1, 0), (1, 0)]
    found = versions_of(settings, household, WANG_ID)
    assert [(v.ethnicity, v._batch_id) for v in found] == [
        ("汉族", batches[0].batch_id), ("回族", batches[1].batch_id), ("汉族", batches[2].batch_id)]
    assert found[0]._record_hash == found[2]._record_hash  # the same value, held twice
    assert [v._valid_to is None for v in found] == [False, False, True]
    resent = ingest_file(settings, contracts, household, "d.csv", csv(WANG, ZHANG)).batch
    assert (resent.stored, resent.duplicates) == (1, 1)  # the current twin; ZHANG is new
    assert len(versions_of(settings, household, WANG_ID)) == 3


def test_rows_in_add_up_when_a_batch_mixes_new_changed_unchanged_repeated_and_bad_rows(
        settings, contracts, household):
    ingest_file(settings, contracts, household, "a.csv", csv(ZHANG, WANG))
    bad = "140105199803071233,赵六,1,1998-03-07,汉族,140105,,"  # wrong check digit
    mixed = ingest_file(settings, contracts, household, "b.csv",
                        csv(ZHANG, WANG_MOVED, LI, LI, bad)).batch
    assert_adds_up(mixed)
    # stored: LI (new) + WANG (new version); duplicates: ZHANG (stored twin) + LI (in the file)
    assert (mixed.rows_in, mixed.stored, mixed.duplicates, mixed.quarantined) == (5, 2, 2, 1)
    assert len(table_rows(settings, household.table)) == 2 + mixed.stored


@pytest.fixture
def enterprises(settings, contracts):
    """Fifteen enterprises stored, then a second batch renaming the first one."""
    contract = contracts["enterprise_registration"]
    frame = generate_frame(contract, 15, seed=13)
    ingest_file(settings, contracts, contract, "e1.csv", render_extract(contract, frame, seed=13)[1])
    renamed = frame.copy()
    old_name, new_name = renamed.loc[0, "enterprise_name"], "晋阳更名测试科技有限公司"
    renamed.loc[0, "enterprise_name"] = new_name
    batch = ingest_file(settings, contracts, contract, "e2.csv",
                        render_extract(contract, renamed, seed=13)[1]).batch
    assert (batch.stored, batch.duplicates) == (1, 14)
    return contract, old_name, new_name


def test_the_exchange_serves_only_the_current_version(settings, contracts, enterprises):
    contract, old_name, new_name = enterprises
    engine, protector = engine_for(settings.store_url), keys.protector(settings)
    assert exchange.publish(engine, contract, datetime.now(UTC), protector) == 15
    names = [r.enterprise_name for r in table_rows(settings, f"ex_{contract.id}")]
    assert new_name in names and old_name not in names
    token = principals.issue(engine, "人社厅核验", "sx_renshe", "department", 30, "test",
                             datetime.now(UTC)).token
    service = Exchange(engine, contracts, protector, keys.pseudonym_key(settings))
    page, _ = service.read_page(token, contract.id, None, 100, ["enterprise_name"], None)
    served = [r["enterprise_name"] for r in page.rows]
    assert len(served) == 15 and new_name in served and old_name not in served


def test_open_data_opens_only_the_current_version(settings, contracts, enterprises):
    contract, old_name, new_name = enterprises
    store = open_store(settings.open_data_url)
    assert publisher.publish(engine_for(settings.store_url), store, contract,
                             datetime.now(UTC)) == 15
    published = pd.read_csv(io.BytesIO(version_files(store, contract.id)[f"{contract.id}.csv"]),
                            dtype=str, encoding="utf-8-sig")
    names = published["enterprise_name"].tolist()
    assert len(names) == 15 and new_name in names and old_name not in names


def test_rotation_reencrypts_every_version(settings, contracts, household):
    ingest_file(settings, contracts, household, "a.csv", csv(ZHANG, WANG))
    ingest_file(settings, contracts, household, "b.csv", csv(WANG_MOVED))
    before = [(v.ethnicity, v.id_number) for v in versions_of(settings, household, WANG_ID)]
    save_local_keyring(settings, data_keyring(settings).with_new_key())
    protector = keys.protector(settings)
    engine = engine_for(settings.store_url)
    # One row per chunk: a walk by natural key alone would skip a version sharing the key.
    report = rotation.rotate(engine, contracts, protector, datetime.now(UTC), chunk_rows=1)
    assert report.reencrypted[household.id] == {"id_number": 3, "ethnicity": 3, "_original": 0}
    sealed = [getattr(r, f) for r in table_rows(settings, household.table)
              for f in ("id_number", "ethnicity")]
    assert {crypto.key_id_of(e) for e in sealed} == {protector.keyring.active}
    assert [(v.ethnicity, v.id_number) for v in versions_of(settings, household, WANG_ID)] == before
    checked = rotation.verify(engine, contracts, protector, chunk_rows=1)
    assert checked.ok and checked.checked == 6


def test_a_withdrawal_erases_the_value_from_every_version(settings, contracts):
    from jinshu.collect import consent_intake
    from jinshu.dev.generate import consent_extract

    insurance = contracts["social_insurance_enrollment"]
    frame = generate_frame(insurance, 3, seed=5)
    frame["email"] = [f"user{i}@example.cn" for i in range(3)]
    subject = frame.loc[0, "id_number"]
    landing = open_store(settings.landing_url)

    def decide(decision: str, on: str, name: str) -> None:
        landing.write(f"sx_renshe/consent/{name}",
                      consent_extract([subject], insurance.id, "email", [decision], on))
        [batch_id] = consent_intake.discover(settings, contracts)
        consent_intake.record_extract(settings, contracts, batch_id)

    def extract(emails: list[str], name: str) -> None:
        data = frame.assign(email=emails).rename(columns={f.name: f.title for f in insurance.fields})
        ingest_file(settings, contracts, insurance, name, data.to_csv(index=False).encode())

    decide("granted", "2026-11-01", "c1.csv")
    extract(list(frame["email"]), "x.csv")
    extract(["new0@example.cn", *frame["email"][1:]], "y.csv")
    emails = [r.email for r in stored_records(settings, insurance, every_version=True)
              if r.id_number == subject]
    assert emails == ["user0@example.cn", "new0@example.cn"]
    decide("withdrawn", "2026-11-20", "c2.csv")
    kept = [r for r in stored_records(settings, insurance, every_version=True)
            if r.id_number == subject]
    assert len(kept) == 2 and all(r.email is None for r in kept)
    [withdrawal] = table_rows(settings, "consent_withdrawals")
    assert withdrawal.values_removed == 2


# --- reading a subject's history -----------------------------------------------------------


def history_entries(settings) -> list[sa.Row]:
    with engine_for(settings.store_url).connect() as conn:
        assert audit.verify(conn).intact
        return conn.execute(sa.select(audit.audit_log).where(
            audit.audit_log.c.action == history.AUDIT_ACTION).order_by(audit.audit_log.c.seq)).all()


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The command line on the test's store and keys (the operator's JINSHU_HOME)."""
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", settings.store_url)
    monkeypatch.delenv("JINSHU_LANDING_URL", raising=False)
    return settings


def test_history_shows_each_version_masked_and_every_read_is_audited(cli_env, contracts,
                                                                     household):
    settings = cli_env
    first = ingest_file(settings, contracts, household, "a.csv", csv(ZHANG, WANG)).batch
    second = ingest_file(settings, contracts, household, "b.csv", csv(WANG_MOVED)).batch
    result = CliRunner().invoke(app, ["history", household.id, "--subject", f" {WANG_ID} ",
                                      "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    earlier, now = shown["versions"]
    assert (earlier["batch"], now["batch"]) == (first.batch_id, second.batch_id)
    assert earlier["valid_to"] == now["valid_from"] and now["valid_to"] is None
    assert earlier["id_number"] == now["id_number"] == "1****************X"
    assert earlier["name"] == "王*" and earlier["county_code"] == "140105"  # personal masked
    assert earlier["ethnicity"] != "汉族" and now["address"] != "山西省太原市迎泽区柳巷3号"
    assert (earlier["changed"], now["changed"]) == ([], ["ethnicity", "address"])  # names only
    assert {"id_number", "name", "ethnicity", "address"} <= set(shown["masked_fields"])
    assert WANG_ID not in result.output and "王芳" not in result.output
    [entry] = history_entries(settings)
    details = json.loads(entry.details)
    assert (entry.actor, details["dataset"], details["versions"], details["clear_fields"]) == (
        f"cli:{os_user()}", household.id, 2, [])
    assert entry.subject == keys.protector(settings).pseudonyms.one(WANG_ID)
    assert WANG_ID not in entry.subject + entry.details
    text = CliRunner().invoke(app, ["history", household.id, "--subject", "140105200001010011"])
    assert text.exit_code == 0 and "no record of this subject" in text.output
    assert len(history_entries(settings)) == 2  # a read that finds nothing is audited too
    bad = CliRunner().invoke(app, ["history", household.id, "--subject", "1404"])
    assert bad.exit_code == 1 and "not a valid resident ID number" in bad.output
    assert "1404" not in bad.output.replace(household.id, "")


def test_the_owning_department_reads_personal_fields_in_the_clear_never_sensitive_ones(
        cli_env, contracts, household):
    settings = cli_env
    ingest_file(settings, contracts, household, "a.csv", csv(WANG))
    ingest_file(settings, contracts, household, "b.csv", csv(WANG_MOVED))
    engine, now = engine_for(settings.store_url), datetime.now(UTC)
    owner = principals.issue(engine, "公安厅户政", "sx_gongan", "department", 30, "test", now)
    other = principals.issue(engine, "民政厅", "sx_minzheng", "department", 30, "test", now)
    runner = CliRunner()
    refused = runner.invoke(app, ["history", household.id, "--subject", WANG_ID, "--clear"],
                            input=f"{other.token}\n")
    assert refused.exit_code == 1 and "read by its owner, sx_gongan" in refused.output
    assert other.token not in refused.output
    wrong = runner.invoke(app, ["history", household.id, "--subject", WANG_ID, "--clear"],
                          input="p_000000000000.not-a-token\n")
    assert wrong.exit_code == 1 and "refused" in wrong.output
    result = runner.invoke(app, ["history", household.id, "--subject", WANG_ID, "--clear",
                                 "--json"], input=f"{owner.token}\n")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output[result.output.index("{"):])
    earlier, current = shown["versions"]
    assert (earlier["name"], current["address"]) == ("王芳", "山西省太原市迎泽区柳巷3号")
    assert earlier["id_number"] == "1****************X"  # sensitive: never in the clear
    assert "回族" not in result.output and owner.token not in result.output
    entries = history_entries(settings)
    assert len(entries) == 1  # refused before reading: nothing read, nothing to audit
    details = json.loads(entries[0].details)
    assert (details["department"], details["principal"]) == ("sx_gongan", owner.principal.id)
    assert "name" in details["clear_fields"] and "id_number" not in details["clear_fields"]


def test_history_refuses_a_dataset_without_subjects(cli_env):
    result = CliRunner().invoke(app, ["history", "vaccination_sites", "--subject", WANG_ID])
    assert result.exit_code == 1 and "has no subject" in result.output
    assert WANG_ID not in result.output


def test_history_service_orders_versions_by_record_then_validity(settings, contracts):
    insurance = contracts["social_insurance_enrollment"]
    frame = generate_frame(insurance, 2, seed=7)
    two = pd.concat([frame.iloc[[0]], frame.iloc[[0]]], ignore_index=True)
    kinds = sorted(f for f in insurance.by_name["insurance_type"].values if f != two.loc[0, "insurance_type"])
    two.loc[1, "insurance_type"] = kinds[0]  # the same person, a second kind of insurance

    def extract(data: pd.DataFrame, name: str) -> None:
        renamed = data.rename(columns={f.name: f.title for f in insurance.fields})
        ingest_file(settings, contracts, insurance, name, renamed.to_csv(index=False).encode())

    extract(two, "a.csv")
    changed = two.copy()
    changed.loc[0, "phone"] = "13912345678"
    extract(changed, "b.csv")
    found = history.read_history(engine_for(settings.store_url), insurance,
                                 keys.protector(settings), two.loc[0, "id_number"], "test",
                                 datetime.now(UTC))
    assert len(found.versions) == 3
    types = [v.values["insurance_type"] for v in found.versions]
    assert types == sorted(types) and len(set(types)) == 2
    assert [v.valid_to is None for v in found.versions].count(True) == 2
