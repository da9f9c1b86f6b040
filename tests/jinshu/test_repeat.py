"""Repeated collection across departments: detected with exact counts, sent back, reported, stopped.

Household registration (山西省公安厅) is the authority for person.*; social insurance and the
minimum living allowance collect some of the same concepts again. The extracts below plant
which subjects overlap and which values conflict, and go through the real ingest.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from jinshu import pipeline
from jinshu.catalog import Contract, load_catalog, load_concepts
from jinshu.cli import app
from jinshu.dev.generate import generate_frame, render_extract
from jinshu.evolve.migrate import AUDIT_ACTION as MIGRATED
from jinshu.evolve.migrate import SchemaOutOfDate, migrate
from jinshu.open import publisher
from jinshu.protect import keys
from jinshu.repeat import detect, notices
from jinshu.repeat.overlap import overlaps, without_authority
from jinshu.settings import DEFAULT_CATALOG_DIR, Settings
from jinshu.share import exchange, grants, principals
from jinshu.share.decision import Caller
from jinshu.share.service import Exchange
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import audit_log, repeat_findings, repeat_notices
from jinshu.vocab import mask
from tests.helpers import catalog_copy, drop, ingest_file, make_settings, serving, table_rows
from tests.jinshu.open.conftest import version_files

HOUSEHOLD, SOCIAL, ALLOWANCE = ("household_registration", "social_insurance_enrollment",
                                "minimum_living_allowance")
NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 8, tzinfo=UTC)
TYPES = ["110", "120", "170", "210", "310", "410"]


@dataclass
class Planted:
    household: pd.DataFrame
    social: pd.DataFrame
    allowance: pd.DataFrame

    def twice(self, frame: pd.DataFrame, field: str) -> int:
        """Subjects of ``frame`` holding a value of ``field`` that the registry holds too."""
        held = frame[frame["id_number"].isin(self.household["id_number"]) & (frame[field] != "")]
        return held["id_number"].nunique()


def conflicting(name: str) -> str:
    return name + "某"  # still a valid name: only the comparison can tell


def planted(contracts: dict[str, Contract]) -> Planted:
    """40 registered people; social insurance: 25 of them (5 with a second insurance type)
    and 10 others, 3 names conflicting (one only on a second record); the allowance: 12 of
    them and 3 others, 1 name conflicting."""
    household = generate_frame(contracts[HOUSEHOLD], 40, seed=21)
    ids = household["id_number"]
    shared = generate_frame(contracts[SOCIAL], 25, seed=22, ids=ids)
    second = shared.iloc[:5].copy()
    second["insurance_type"] = [next(t for t in TYPES if t != had) for had in second["insurance_type"]]
    social = pd.concat([shared, generate_frame(contracts[SOCIAL], 10, seed=23), second],
                       ignore_index=True)
    for row in (0, 1, 37):  # subjects 0 and 1 on their only record, subject 2 on its second
        social.loc[row, "name"] = conflicting(social.loc[row, "name"])
    allowance = pd.concat([generate_frame(contracts[ALLOWANCE], 12, seed=24, ids=ids),
                           generate_frame(contracts[ALLOWANCE], 3, seed=25)], ignore_index=True)
    allowance.loc[0, "name"] = conflicting(allowance.loc[0, "name"])
    assert social["id_number"].nunique() == 35 and allowance["id_number"].nunique() == 15
    return Planted(household, social, allowance)


def ingest(settings: Settings, contracts: dict[str, Contract], dataset: str, frame: pd.DataFrame,
           name: str) -> None:
    contract = contracts[dataset]
    batch = ingest_file(settings, contracts, contract, name, render_extract(contract, frame)[1]).batch
    assert (batch.status, batch.stored, batch.quarantined) == ("loaded", len(frame), 0), batch


def ingest_planted(settings: Settings, contracts: dict[str, Contract]) -> Planted:
    data = planted(contracts)
    ingest(settings, contracts, HOUSEHOLD, data.household, "h.csv")
    ingest(settings, contracts, SOCIAL, data.social, "s.csv")
    ingest(settings, contracts, ALLOWANCE, data.allowance, "a.csv")
    return data


def findings(settings: Settings, run_id: str) -> dict[tuple[str, str], tuple]:
    with engine_for(settings.store_url).connect() as conn:
        rows = conn.execute(sa.select(repeat_findings).where(repeat_findings.c.run_id == run_id))
        return {(r.collector_dataset, r.concept): (r.collector_subjects, r.subjects_twice, r.conflicts,
                                                   r.takes) for r in rows}


def run_detection(settings: Settings, contracts: dict[str, Contract], run_id: str,
                  now: datetime = NOW, catalog_dir: Path = DEFAULT_CATALOG_DIR) -> detect.RunSummary:
    engine = engine_for(settings.store_url)
    summary = detect.run(engine, contracts, load_concepts(catalog_dir), run_id, now)
    notices.send_back(engine, run_id, now)
    return summary


def changed_catalog(folder: Path, dataset_file: str, change: Callable[[dict], None]
                    ) -> dict[str, Contract]:
    return load_catalog(catalog_copy(folder, dataset_file, change))


def take_name_from_the_registry(doc: dict) -> None:
    """Social insurance stops collecting names: it reads them from household registration."""
    field = next(f for f in doc["fields"] if f["name"] == "name")
    field.update(from_authority=True)
    field.pop("required")


SOCIAL_FILE = "sx_renshe/social_insurance_enrollment.yaml"


# --- detection -------------------------------------------------------------------------------


def test_the_catalog_lists_who_collects_a_concept_another_dataset_is_the_source_of(contracts):
    found = {(o.holder.contract.id, o.concept, o.authority.contract.id, o.takes)
             for o in overlaps(contracts)}
    assert found == {(SOCIAL, "person.name", HOUSEHOLD, False), (SOCIAL, "person.sex", HOUSEHOLD, False),
                     (SOCIAL, "person.birth_date", HOUSEHOLD, False),
                     (ALLOWANCE, "person.name", HOUSEHOLD, False)}
    unowned = {c: [h.contract.id for h in held] for c, held in without_authority(contracts).items()}
    assert unowned == {"person.phone": [ALLOWANCE, SOCIAL]}


def test_planted_overlaps_and_conflicts_are_found_with_exact_counts(settings, contracts):
    data = ingest_planted(settings, contracts)
    summary = run_detection(settings, contracts, "run-1")
    expected = {
        (SOCIAL, "person.name"): (35, 25, 3, False),
        (SOCIAL, "person.sex"): (35, data.twice(data.social, "sex"), 0, False),
        (SOCIAL, "person.birth_date"): (35, data.twice(data.social, "birth_date"), 0, False),
        (ALLOWANCE, "person.name"): (15, 12, 1, False),
    }
    assert findings(settings, "run-1") == expected
    assert 20 <= expected[(SOCIAL, "person.sex")][1] <= 25  # a few sexes left blank by the generator
    assert (summary.overlaps, summary.compared, summary.conflicts) == (4, 4, 4)
    assert summary.subjects_twice == sum(v[1] for v in expected.values())
    with engine_for(settings.store_url).connect() as conn:
        [entry] = conn.execute(sa.select(audit_log).where(audit_log.c.action == detect.AUDIT_ACTION))
    assert entry.subject == "run-1" and json.loads(entry.details)["conflicts"] == 4
    names = set(data.social["name"]) | set(data.household["name"])
    assert not any(name in entry.details for name in names)  # counts and ids, never values


def test_a_concept_encrypted_on_one_side_only_is_counted_but_not_compared(tmp_path):
    folder = tmp_path / "catalog"
    contracts = changed_catalog(folder, SOCIAL_FILE, lambda doc: next(
        f for f in doc["fields"] if f["name"] == "name").update(sensitivity="sensitive_personal"))
    settings = make_settings(tmp_path / "home")  # SQLite
    ingest_planted(settings, contracts)
    run_detection(settings, contracts, "run-1", catalog_dir=folder)
    found = findings(settings, "run-1")
    assert found[(SOCIAL, "person.name")] == (35, 25, None, False)  # blind index vs clear name
    assert found[(ALLOWANCE, "person.name")] == (15, 12, 1, False)


def test_records_without_a_subject_key_are_handed_to_probabilistic_matching(tmp_path, contracts):
    """The hook for issue 13c: what it is given (never the records matched by key)."""
    settings = make_settings(tmp_path / "home")  # SQLite
    data = ingest_planted(settings, contracts)
    engine = engine_for(settings.store_url)
    with engine.begin() as conn:  # a record whose ID number was never sent: no pseudonym
        conn.execute(sa.text(f"UPDATE ds_{SOCIAL} SET _subject_key = NULL WHERE _source_row = 32"))
    with engine.connect() as conn:
        records = detect.records_without_identifier(conn, contracts, overlaps(contracts))
    assert list(records.columns) == ["record_id", "source_dataset", "name", "birth_date", "address"]
    [(record_id, source, name, birth, address)] = records.itertuples(index=False)
    row = data.social.iloc[30]  # file row 32: the header is row 1
    assert (source, name, birth) == (SOCIAL, row["name"], row["birth_date"])
    assert pd.isna(address)  # social insurance does not collect the address
    assert record_id.startswith(f"{SOCIAL}/")
    summary = run_detection(settings, contracts, "run-1")
    assert summary.without_identifier == 1
    assert findings(settings, "run-1")[(SOCIAL, "person.name")][:2] == (34, 25)  # one subject fewer


def test_a_run_repeated_under_its_id_replaces_its_findings(settings, contracts):
    ingest_planted(settings, contracts)
    first = run_detection(settings, contracts, "run-1")
    again = run_detection(settings, contracts, "run-1")
    assert first == again
    with engine_for(settings.store_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(repeat_findings)).scalar() == 4
        assert conn.execute(sa.select(sa.func.count()).select_from(repeat_notices)).scalar() == 4


def test_findings_are_sent_back_and_reported_with_their_trend(pg_url, tmp_path, contracts,
                                                               monkeypatch):
    settings = make_settings(tmp_path / "home", store_url=pg_url)
    data = ingest_planted(settings, contracts)
    run_detection(settings, contracts, "run-1")
    more = generate_frame(contracts[SOCIAL], 5, seed=26,
                          ids=data.household["id_number"][~data.household["id_number"].isin(
                              data.social["id_number"])])
    ingest(settings, contracts, SOCIAL, more, "s2.csv")
    run_detection(settings, contracts, "run-2", LATER)
    with engine_for(settings.store_url).connect() as conn:
        sent = conn.execute(sa.select(repeat_notices).order_by(repeat_notices.c.id)).all()
        opened = conn.execute(sa.select(audit_log.c.subject).where(
            audit_log.c.action == notices.OPENED)).scalars().all()
    assert [(n.collector_department, n.collector_dataset, n.concept, n.opened_run, n.last_run)
            for n in sent] == [
        ("sx_minzheng", ALLOWANCE, "person.name", "run-1", "run-2"),
        ("sx_renshe", SOCIAL, "person.birth_date", "run-1", "run-2"),
        ("sx_renshe", SOCIAL, "person.name", "run-1", "run-2"),
        ("sx_renshe", SOCIAL, "person.sex", "run-1", "run-2")]
    assert all(n.closed_at is None for n in sent) and len(opened) == 4  # opened once, refreshed
    [name] = [n for n in sent if n.collector_dataset == SOCIAL and n.concept == "person.name"]
    assert (name.subjects_twice, name.conflicts) == (30, 3)
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", pg_url)
    runner = CliRunner()
    done = runner.invoke(app, ["report", "repeat", "--json", "--department", "sx_renshe"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    pairs = {(p["collector_dataset"], p["concept"]): p for p in report["pairs"]}
    assert set(pairs) == {(SOCIAL, "person.name"), (SOCIAL, "person.sex"), (SOCIAL, "person.birth_date")}
    latest = pairs[(SOCIAL, "person.name")]
    assert (latest["run_id"], latest["subjects_twice"], latest["previous_twice"],
            latest["change_twice"], latest["conflicts"], latest["change_conflicts"]) == (
        "run-2", 30, 25, 5, 3, 0)
    assert latest["share_twice"] == pytest.approx(30 / 40, abs=1e-4)
    assert latest["authority_department"] == "sx_gongan"
    assert [h["subjects_twice"] for h in report["history"]
            if (h["collector_dataset"], h["concept"]) == (SOCIAL, "person.name")] == [25, 30]
    assert {n["collector_department"] for n in report["notices"]} == {"sx_renshe"}
    assert report["without_authority"] == [{"concept": "person.phone", "title": "手机号码", "held_by": [
        f"{ALLOWANCE}.phone", f"{SOCIAL}.phone"]}]
    text = runner.invoke(app, ["report", "repeat"]).output
    assert re.search(r"sx_renshe\s+sx_gongan\s+person\.name\s+social_insurance_enrollment\.name\s+"
                     r"exact\s+collects\s+40\s+30\s+75\.0%\s+3\s+\+5", text), text
    assert "sent back to the collecting departments" in text and "from_authority: true" in text


# --- stopping it -----------------------------------------------------------------------------


def test_a_field_taken_from_its_authority_is_not_collected_stored_or_compared(settings, tmp_path):
    contracts = changed_catalog(tmp_path / "catalog", SOCIAL_FILE, take_name_from_the_registry)
    data = ingest_planted(settings, contracts)  # the file still carries names: none is kept
    with engine_for(settings.store_url).connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns(f"ds_{SOCIAL}")}
    assert "name" not in columns and {"sex", "birth_date", "_subject_key"} <= columns
    stored = {str(v) for row in table_rows(settings, f"ds_{SOCIAL}") for v in row}
    assert not stored & set(data.social["name"])
    run_detection(settings, contracts, "run-1", catalog_dir=tmp_path / "catalog")
    found = findings(settings, "run-1")
    assert found[(SOCIAL, "person.name")] == (35, 0, 0, True)
    assert found[(SOCIAL, "person.sex")][1] == data.twice(data.social, "sex")


def test_switching_a_field_to_its_authority_drops_the_copy_and_closes_the_notice(tmp_path,
                                                                                 contracts):
    settings = make_settings(tmp_path / "home")  # SQLite
    ingest_planted(settings, contracts)
    run_detection(settings, contracts, "run-1")
    changed = changed_catalog(tmp_path / "catalog", SOCIAL_FILE, take_name_from_the_registry)
    drop(settings, changed[SOCIAL], "s2.csv", render_extract(
        changed[SOCIAL], generate_frame(changed[SOCIAL], 4, seed=27))[1])
    says = re.escape(f"drop column ds_{SOCIAL}.name with its stored copy")
    with pytest.raises(SchemaOutOfDate, match=says):
        pipeline.discover(settings, changed[SOCIAL], changed)
    engine = engine_for(settings.store_url)
    plan = migrate(engine, changed[SOCIAL], keys.protector(settings), "tester", LATER)
    assert [(s.action, s.field) for s in plan.steps] == [("unlink", "name")]
    assert pipeline.run(settings, changed, changed[SOCIAL]), "the waiting file is ingested"
    run_detection(settings, changed, "run-2", LATER, tmp_path / "catalog")
    with engine.connect() as conn:
        [step] = conn.execute(sa.select(audit_log.c.details).where(audit_log.c.action == MIGRATED))
        sent = {n.concept: n for n in conn.execute(sa.select(repeat_notices).where(
            repeat_notices.c.collector_dataset == SOCIAL))}
    assert json.loads(step.details)["values"] == 40  # every stored name removed
    assert sent["person.name"].closed_run == "run-2"
    assert "now takes this concept from its authority" in sent["person.name"].close_reason
    assert sent["person.sex"].closed_at is None and sent["person.birth_date"].closed_at is None


def published_taking_names(pg_url: str, tmp_path: Path):
    """Social insurance taking the name from the registry, the planted data ingested on
    PostgreSQL and both datasets published to the exchange."""
    contracts = changed_catalog(tmp_path / "catalog", SOCIAL_FILE, take_name_from_the_registry)
    settings = make_settings(tmp_path / "home", store_url=pg_url)
    data = ingest_planted(settings, contracts)
    engine, protector = engine_for(pg_url), keys.protector(settings)
    for dataset in (HOUSEHOLD, SOCIAL):
        exchange.publish(engine, contracts[dataset], NOW, protector, catalog=contracts)
    return contracts, settings, data, engine, protector


def test_the_exchange_serves_a_taken_field_from_its_authority(pg_url, tmp_path):
    contracts, settings, data, engine, protector = published_taking_names(pg_url, tmp_path)
    registered = dict(zip(data.household["id_number"], data.household["name"], strict=True))
    with engine.connect() as conn:
        snapshot = conn.execute(sa.text(f"SELECT name, _subject_key FROM ex_{SOCIAL}")).all()
    key_of = {protector.pseudonyms.one(i): i for i in data.social["id_number"]}
    assert len(snapshot) == len(data.social)
    for name, key in snapshot:  # the published snapshot: the registry's names, masked
        person = key_of[key]
        expected = mask.apply("name", pd.Series([registered[person]], dtype="str"))[0] \
            if person in registered else None
        assert name == expected
    token = principals.issue(engine, "低保联审", "sx_minzheng", "department", 30, "test", NOW).token
    request = grants.create(engine, contracts[SOCIAL], Caller("p_m", "sx_minzheng", "department"),
                            "低保资格联审", ["name", "insurance_type"], 30, False, None,
                            datetime.now(UTC), frozenset())
    grant = grants.approve(engine, request.id, Caller("p_o", "sx_renshe", "department"), None, None,
                           datetime.now(UTC)).id
    service = Exchange(engine, contracts, protector, keys.pseudonym_key(settings))
    twice = data.social["id_number"].iloc[0]  # two records, the name in the file conflicting
    outsider = data.social["id_number"].iloc[30]  # not in the registry
    with serving(service) as url, httpx.Client(base_url=url, timeout=30, headers={
            "Authorization": f"Bearer {token}"}) as client:
        found = client.post(f"/v1/datasets/{SOCIAL}/lookup",
                            json={"id_number": twice, "fields": ["name", "insurance_type"],
                                  "grant": grant})
        unknown = client.post(f"/v1/datasets/{SOCIAL}/lookup",
                              json={"id_number": outsider, "fields": ["name"], "grant": grant})
        page = client.get(f"/v1/datasets/{SOCIAL}/records",
                          params={"fields": "name", "grant": grant, "limit": 100})
    assert found.status_code == 200, found.json()
    assert [r["name"] for r in found.json()["rows"]] == [registered[twice]] * 2
    assert found.json()["masked"] == []  # the grant names the field: the registry's own value
    assert unknown.json()["rows"] == [{"name": None, "_subject": unknown.json()["rows"][0]["_subject"]}]
    names = [r["name"] for r in page.json()["rows"]]
    assert len(names) == len(data.social)
    assert sorted(n for n in names if n) == sorted(registered[i] for i in data.social["id_number"]
                                                   if i in registered)


TAX_CONTRACT = {
    "id": "tax_credit_rating", "title": "纳税信用等级评价结果",
    "department": {"code": "sx_shuiwu", "name": "国家税务总局山西省税务局"},
    "subject": "organization", "subject_key": "uscc", "natural_key": ["uscc"],
    "update_cycle": "monthly", "sharing": {"class": "unconditional"},
    "open": {"class": "open", "already_disclosed": True, "licence": "CC-BY-4.0", "theme": "ECON"},
    "fields": [
        {"name": "uscc", "title": "统一社会信用代码", "description": "纳税人的统一社会信用代码",
         "format": "uscc", "required": True,
         "sensitivity": "public", "basis": {"law": "纳税信用管理办法 第三十六条"}},
        {"name": "enterprise_name", "title": "纳税人名称", "description": "纳税人登记的名称",
         "concept": "org.name",
         "from_authority": True, "sensitivity": "public",
         "basis": {"law": "纳税信用管理办法 第三十六条"}},
        {"name": "credit_level", "title": "纳税信用级别", "description": "纳税信用评价的级别",
         "values": {"A": "A级", "B": "B级", "D": "D级"},
         "required": True, "sensitivity": "public", "basis": {"law": "纳税信用管理办法 第二十三条"}},
    ],
}


def test_a_publish_after_the_authority_changed_a_value_serves_the_new_one(pg_url, tmp_path):
    contracts, settings, data, engine, protector = published_taking_names(pg_url, tmp_path)
    person = next(i for i in data.social["id_number"] if i in set(data.household["id_number"]))
    renamed = data.household[data.household["id_number"] == person].copy()
    renamed["name"] = "欧阳新名"
    ingest(settings, contracts, HOUSEHOLD, renamed, "h2.csv")  # a new version at the authority
    # The social dataset itself changed nothing: only its authority's new batch says republish.
    exchange.publish(engine, contracts[SOCIAL], NOW + timedelta(hours=1), protector,
                     catalog=contracts)
    with engine.connect() as conn:
        names = conn.execute(sa.text(f"SELECT name FROM ex_{SOCIAL} WHERE _subject_key = :k"),
                             {"k": protector.pseudonyms.one(person)}).scalars().all()
        details = json.loads(conn.execute(sa.text(
            "SELECT details FROM audit_log WHERE action = 'publish_exchange' AND subject = :d "
            "ORDER BY seq DESC LIMIT 1"), {"d": SOCIAL}).scalar())
    expected = mask.apply("name", pd.Series(["欧阳新名"], dtype="str"))[0]
    assert names and set(names) == {expected}
    assert details["written"] == len(data.social)  # published whole, not incrementally


def test_open_data_reads_a_taken_field_from_its_authority(tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(DEFAULT_CATALOG_DIR, folder)
    (folder / "sx_shuiwu").mkdir()
    (folder / "sx_shuiwu" / "tax_credit_rating.yaml").write_text(
        yaml.safe_dump(TAX_CONTRACT, allow_unicode=True), encoding="utf-8")
    contracts = load_catalog(folder)
    settings = make_settings(tmp_path / "home")
    enterprises = generate_frame(contracts["enterprise_registration"], 10, seed=31)
    ingest(settings, contracts, "enterprise_registration", enterprises, "e.csv")
    strangers = generate_frame(contracts["enterprise_registration"], 2, seed=32)["uscc"]
    rated = pd.DataFrame({"uscc": [*enterprises["uscc"].iloc[:8], *strangers],
                          "enterprise_name": "冒名顶替有限公司", "credit_level": "A"})
    ingest(settings, contracts, "tax_credit_rating", rated, "t.csv")
    store = open_store(settings.open_data_url)
    rows = publisher.publish(engine_for(settings.store_url), store, contracts["tax_credit_rating"],
                             NOW, catalog=contracts)
    text = version_files(store, "tax_credit_rating")["tax_credit_rating.csv"].decode("utf-8-sig")
    opened = pd.read_csv(io.StringIO(text), dtype=str)
    assert rows == 10
    named = dict(zip(enterprises["uscc"], enterprises["enterprise_name"], strict=True))
    by_uscc = dict(zip(opened["uscc"], opened["enterprise_name"], strict=True))
    assert {u: by_uscc[u] for u in enterprises["uscc"].iloc[:8]} == {
        u: named[u] for u in enterprises["uscc"].iloc[:8]}
    assert all(pd.isna(by_uscc[u]) for u in strangers)
    assert "冒名顶替" not in text  # what the file said was never kept


# --- before a department drops a file --------------------------------------------------------


def test_check_tells_a_department_which_columns_an_authority_already_holds(tmp_path, monkeypatch,
                                                                           contracts):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    path = tmp_path / "social.csv"
    path.write_bytes(render_extract(contracts[SOCIAL], generate_frame(contracts[SOCIAL], 5, seed=3))[1])
    runner = CliRunner()
    done = runner.invoke(app, ["check", SOCIAL, str(path), "--json"])
    assert done.exit_code == 0, done.output
    told = {a["field"]: (a["concept"], a["authority_dataset"], a["authority_field"], a["takes"])
            for a in json.loads(done.output)["available_from_authority"]}
    assert told == {"name": ("person.name", HOUSEHOLD, "name", False),
                    "sex": ("person.sex", HOUSEHOLD, "sex", False),
                    "birth_date": ("person.birth_date", HOUSEHOLD, "birth_date", False)}
    text = runner.invoke(app, ["check", SOCIAL, str(path)]).output
    assert ("column 'name' (姓名) is person.name, already available from household_registration.name "
            "(山西省公安厅): to stop collecting it again, declare from_authority: true") in text
    changed_catalog(tmp_path / "catalog", SOCIAL_FILE, take_name_from_the_registry)
    monkeypatch.setenv("JINSHU_CATALOG_DIR", str(tmp_path / "catalog"))
    text = runner.invoke(app, ["check", SOCIAL, str(path)]).output
    assert "column 'name' (姓名) is taken from household_registration.name (山西省公安厅): its " \
           "values in this file are not stored" in text


def test_a_fresh_store_reports_no_run_yet(tmp_path, monkeypatch, contracts):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    ensure_schema(engine_for(Settings.from_env().store_url), contracts)
    text = CliRunner().invoke(app, ["report", "repeat"]).output
    assert "no detection run yet" in text
    assert re.search(r"social_insurance_enrollment\.name\s+person\.name\s+姓名\s+collects\s+"
                     r"household_registration\.name \(sx_gongan\)", text), text
    assert "person.phone 手机号码: minimum_living_allowance.phone" in text  # no authority
    unknown = CliRunner().invoke(app, ["report", "repeat", "--department", "sx_bogus"])
    assert unknown.exit_code == 2 and "Fix: use one of" in unknown.output
