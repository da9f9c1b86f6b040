"""Collection control on a real store: the consent gate, withdrawals, consent
extracts and the collection report (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from jinshu.catalog import load_contract
from jinshu.cli import app
from jinshu.collect import consent, consent_intake
from jinshu.dev.generate import consent_extract, generate_extract, generate_frame
from jinshu.govern.report import collection_report
from jinshu.protect import keys, policy
from jinshu.share import exchange
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.schema import ensure_schema
from tests.helpers import ingest_file, original_of, stored_records, table_rows

DATASET, FIELD = "social_insurance_enrollment", "email"


@pytest.fixture
def insurance(contracts):
    return contracts[DATASET]


@pytest.fixture
def people(insurance):
    """Ten subjects of a generated extract, every email present."""
    frame = generate_frame(insurance, 10, seed=5)
    frame[FIELD] = [f"user{i}@example.cn" for i in range(10)]
    return frame


def drop_consents(settings, contracts, ids, decisions, on="2026-11-01", name="c.csv",
                  dataset=DATASET):
    store = open_store(settings.landing_url)
    store.write(f"sx_renshe/consent/{name}", consent_extract(ids, dataset, FIELD, decisions, on))
    [batch_id] = consent_intake.discover(settings, contracts)
    return consent_intake.record_extract(settings, contracts, batch_id)


def csv_of(frame, contract) -> bytes:
    return frame.rename(columns={f.name: f.title for f in contract.fields}).to_csv(
        index=False).encode()


def test_gate_keeps_granted_values_drops_the_rest_and_serves_every_record(
        settings, contracts, insurance, people):
    ensure_schema(engine_for(settings.store_url), contracts)
    ids = people["id_number"].tolist()
    drop_consents(settings, contracts, ids[:4] + ids[4:7], ["granted"] * 4 + ["refused"] * 3)
    result = ingest_file(settings, contracts, insurance, "x.csv", csv_of(people, insurance))
    assert (result.batch.rows_in, result.batch.stored, result.batch.quarantined) == (10, 10, 0)
    stored = {r.id_number: r.email for r in stored_records(settings, insurance)}
    assert len(stored) == 10  # a refusal never blocks the service
    assert [stored[i] for i in ids[:4]] == [f"user{i}@example.cn" for i in range(4)]
    assert all(stored[i] is None for i in ids[4:])  # refused (4-6) and never asked (7-9)
    [gate] = table_rows(settings, "consent_gate")
    assert (gate.field, gate.kept, gate.dropped) == (FIELD, 4, 6)
    everything = repr(table_rows(settings, "quarantine")) + repr(table_rows(settings, "duplicates"))
    assert "user5@example.cn" not in everything  # dropped, not quarantined with its value


def test_withdrawal_removes_stored_values_and_the_next_publish_drops_them(
        settings, contracts, insurance, people):
    ensure_schema(engine_for(settings.store_url), contracts)
    ids = people["id_number"].tolist()
    drop_consents(settings, contracts, ids[:3], ["granted"] * 3)
    ingest_file(settings, contracts, insurance, "x.csv", csv_of(people, insurance))
    engine = engine_for(settings.store_url)
    exchange.publish(engine, insurance, datetime.now(UTC), keys.protector(settings))
    assert sum(r.email is not None for r in table_rows(settings, f"ex_{DATASET}")) == 3

    counts = drop_consents(settings, contracts, ids[:1], ["withdrawn"], on="2026-11-20",
                           name="w.csv")
    assert counts.stored == 1
    stored = {r.id_number: r.email for r in stored_records(settings, insurance)}
    assert stored[ids[0]] is None and stored[ids[1]] == "user1@example.cn"
    [withdrawal] = table_rows(settings, "consent_withdrawals")
    assert (withdrawal.field, withdrawal.values_removed) == (FIELD, 1)
    exchange.publish(engine, insurance, datetime.now(UTC), keys.protector(settings))
    published = [r for r in table_rows(settings, f"ex_{DATASET}") if r.email is not None]
    assert len(published) == 2


@pytest.fixture
def insurance_with_sensitive_email(insurance, tmp_path):
    """Social insurance with the email as sensitive personal data on separate consent
    (encrypted, with a blind index), under its own id so its table is its own."""
    raw = insurance.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["id"] = "insurance_sensitive_email"
    for f in raw["fields"]:
        if f["name"] == FIELD:
            f["sensitivity"] = "sensitive_personal"
            f["basis"]["consent"]["separate"] = True
    path = tmp_path / "insurance_sensitive_email.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_contract(path)


def test_a_withdrawn_sensitive_value_can_no_longer_be_matched_by_its_blind_index(
        settings, contracts, insurance_with_sensitive_email, people):
    contract = insurance_with_sensitive_email
    contracts = {**contracts, contract.id: contract}
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    ids = people["id_number"].tolist()
    drop_consents(settings, contracts, ids[:2], ["granted"] * 2, dataset=contract.id)
    ingest_file(settings, contracts, contract, "x.csv", csv_of(people, contract))
    index = keys.protector(settings).pseudonyms.one
    column = policy.blind_index_column(contract, FIELD)

    def matches(email: str) -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {contract.table} "
                                        f"WHERE {column} = :i"), {"i": index(email)}).scalar()

    assert (matches("user0@example.cn"), matches("user1@example.cn")) == (1, 1)
    drop_consents(settings, contracts, ids[:1], ["withdrawn"], on="2026-11-20", name="w.csv",
                  dataset=contract.id)
    assert (matches("user0@example.cn"), matches("user1@example.cn")) == (0, 1)
    stored = {r.id_number: r.email for r in stored_records(settings, contract)}
    assert (stored[ids[0]], stored[ids[1]]) == (None, "user1@example.cn")


@pytest.mark.parametrize(("row", "rule", "words"), [
    (("140105199803071233", DATASET, FIELD, "granted", "2026-11-01"), "cn_ric", "resident ID"),
    (("", DATASET, FIELD, "granted", "2026-11-01"), "required", "is empty"),
    (("140105199803071232", "no_such_data", FIELD, "granted", "2026-11-01"),
     "unknown_dataset", "not a dataset of sx_renshe"),
    (("140105199803071232", "household_registration", "name", "granted", "2026-11-01"),
     "unknown_dataset", "not a dataset of sx_renshe"),
    (("140105199803071232", DATASET, "name", "granted", "2026-11-01"),
     "not_a_consent_field", "not collected on consent"),
    (("140105199803071232", DATASET, FIELD, "maybe", "2026-11-01"), "code_list", "code list"),
    (("140105199803071232", DATASET, FIELD, "granted", "2099-01-01"), "future_date", "after today"),
], ids=["bad-subject-id", "no-subject", "unknown-dataset", "other-departments-dataset",
        "not-a-consent-field", "malformed-decision", "future-date"])
def test_bad_consent_rows_are_rejected_with_a_reason_and_nothing_else_is_lost(
        settings, contracts, row, rule, words):
    ensure_schema(engine_for(settings.store_url), contracts)
    good = "14010520010815068X," + ",".join([DATASET, FIELD, "同意", "2026-11-01", "窗口"])
    bad = ",".join([*row, "counter"])
    data = f"公民身份号码,数据集,数据项,决定,决定日期,渠道\n{good}\n{bad}\n".encode()
    open_store(settings.landing_url).write("sx_renshe/consent/mixed.csv", data)
    [batch_id] = consent_intake.discover(settings, contracts)
    counts = consent_intake.record_extract(settings, contracts, batch_id)
    assert (counts.rows_in, counts.stored, counts.quarantined) == (2, 1, 1)
    [reason] = table_rows(settings, "quarantine")
    assert (reason.source_row, reason.rule) == (3, rule)
    assert words in reason.message and "file sx_renshe/consent/mixed.csv, row 3" in reason.message
    [decision] = table_rows(settings, "consents")
    assert decision.decision == "granted" and len(decision.subject_key) == 64
    assert "14010520010815068X" not in repr(table_rows(settings, "consents"))


def test_consent_extract_with_an_undeclared_column_is_a_scope_violation_and_keeps_none_of_it(
        settings, contracts):
    ensure_schema(engine_for(settings.store_url), contracts)
    rows = [("14010520010815068X", "同意", "13812345678"), ("1401052001081506", "同意", "13912345678")]
    data = "公民身份号码,数据集,数据项,决定,决定日期,渠道,联系电话\n" + "".join(
        f"{id_number},{DATASET},{FIELD},{decision},2026-11-01,窗口,{mobile}\n"
        for id_number, decision, mobile in rows)
    open_store(settings.landing_url).write("sx_renshe/consent/extra.csv", data.encode())
    [batch_id] = consent_intake.discover(settings, contracts)
    counts = consent_intake.record_extract(settings, contracts, batch_id)
    assert (counts.rows_in, counts.stored, counts.quarantined) == (2, 1, 1)
    [violation] = table_rows(settings, "scope_violations")
    assert (violation.batch_id, violation.dataset_id, violation.department) == (
        batch_id, "consent", "sx_renshe")
    assert (violation.column_header, violation.non_empty_values) == ("联系电话", 2)
    [reason] = table_rows(settings, "quarantine")
    consent_contract = consent.consent_contract(contracts[DATASET].department)
    original = original_of(settings, consent_contract, reason)
    assert "1401052001081506" in original and "139" not in original and "联系电话" not in original
    with engine_for(settings.store_url).connect() as conn:
        report = collection_report(conn)
    assert [r["column_header"] for r in report["scope_violations"]] == ["联系电话"]


def test_same_day_refusal_beats_a_grant(settings, contracts, insurance, people):
    ensure_schema(engine_for(settings.store_url), contracts)
    subject = people["id_number"].iloc[0]
    drop_consents(settings, contracts, [subject, subject], ["granted", "refused"])
    ingest_file(settings, contracts, insurance, "x.csv", csv_of(people.head(1), insurance))
    [row] = stored_records(settings, insurance)
    assert row.email is None


def test_collection_report_names_repeat_offenders_and_consent_counts(settings, contracts,
                                                                      insurance, monkeypatch):
    for seed in (1, 2):  # the same undeclared column twice: a repeat offender
        name, data = generate_extract(insurance, 30, seed=seed,
                                      faults=frozenset({"undeclared_column"}))
        ingest_file(settings, contracts, insurance, name, data)
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url}.items():
        monkeypatch.setenv(key, str(value))
    result = CliRunner().invoke(app, ["report", "collection", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [renshe] = [d for d in report["departments"] if d["department"] == "sx_renshe"]
    assert (renshe["scope_violations"], renshe["repeat_offender"]) == (2, True)
    emails = sum(int((generate_frame(insurance, 30, seed=s)[FIELD] != "").sum()) for s in (1, 2))
    assert (renshe["consent_kept"], renshe["consent_dropped"]) == (0, emails)  # nobody consented
    [column] = report["scope_violations"]
    assert (column["column_header"], column["batches"], column["repeat_offence"]) == ("备注", 2, True)
    with engine_for(settings.store_url).connect() as conn:
        assert collection_report(conn) == report
    text = CliRunner().invoke(app, ["report", "collection"]).output
    assert "备注" in text and "repeat" in text


def test_consent_cli_records_checks_and_shows(settings, contracts, monkeypatch):
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url}.items():
        monkeypatch.setenv(key, str(value))
    runner = CliRunner()
    args = ["consent", "record", "--dataset", DATASET, "--field", FIELD,
            "--id-number", "14010520010815068x", "--on", "2026-11-02"]
    assert "recorded: granted" in runner.invoke(app, [*args, "--decision", "同意"]).output
    assert "already recorded" in runner.invoke(app, [*args, "--decision", "granted"]).output
    refused = runner.invoke(app, [*args[:-2], "--on", "2099-01-01", "--decision", "refused"])
    assert refused.exit_code == 1 and "after today" in refused.output
    shown = runner.invoke(app, ["consent", "show", "--id-number", "14010520010815068X"]).output
    assert "2026-11-02  social_insurance_enrollment.email  granted" in shown
    with engine_for(settings.store_url).connect() as conn:
        stored = conn.execute(sa.text("SELECT * FROM consents")).all()
    assert len(stored) == 1 and "14010520010815068" not in repr(stored)
    with engine_for(settings.store_url).connect() as conn:
        trail = conn.execute(sa.text("SELECT action, subject, actor FROM audit_log ORDER BY seq")).all()
    lookups = [t for t in trail if t.action == "consent_lookup"]
    assert len(lookups) == 1 and lookups[0].subject == stored[0].subject_key  # a pseudonym
    assert lookups[0].actor.startswith("cli:") and "14010520010815068" not in repr(trail)
