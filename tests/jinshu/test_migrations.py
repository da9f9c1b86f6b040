"""Contracts that change: governance tables under Alembic, dataset tables migrated to their contracts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from jinshu import pipeline
from jinshu.catalog import Contract, load_catalog
from jinshu.cli import app
from jinshu.cli.common import os_user
from jinshu.dev.generate import generate_extract, generate_frame, render_extract
from jinshu.evolve.diff import StoredTable, diff
from jinshu.evolve.migrate import AUDIT_ACTION, SchemaOutOfDate, describe, migrate, require_current
from jinshu.protect import keys, policy
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema, governance_revision, head_revision
from jinshu.store.tables import GOVERNANCE_TABLES, audit_log, dataset_table, metadata, retired_fields
from jinshu.store.versions import VALID_FROM, VALID_TO
from tests.helpers import catalog_copy, drop, ingest_file, stored_records, table_rows

DATASET = "household_registration"
CONTRACT_FILE = Path("sx_gongan") / f"{DATASET}.yaml"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def changed_catalog(folder: Path, change: Callable[[dict], None]) -> dict[str, Contract]:
    """A copy of the catalog with household_registration's contract changed by ``change``."""
    return load_catalog(catalog_copy(folder, str(CONTRACT_FILE), change))


def field_of(doc: dict, name: str) -> dict:
    return next(f for f in doc["fields"] if f["name"] == name)


def add_marital_status(doc: dict) -> None:
    doc["fields"].append({"name": "marital_status", "title": "婚姻状况", "sensitivity": "personal",
                          "basis": {"law": "中华人民共和国户口登记条例 第四条"}})


def retire_address(doc: dict) -> None:
    doc["fields"] = [f for f in doc["fields"] if f["name"] != "address"]


def name_becomes_sensitive(doc: dict) -> None:
    field_of(doc, "name")["sensitivity"] = "sensitive_personal"


def ethnicity_stops_being_sensitive(doc: dict) -> None:
    field_of(doc, "ethnicity")["sensitivity"] = "personal"


def stored(settings: Settings, contracts: dict[str, Contract]) -> list:
    """Stored rows, decrypted, in a stable order."""
    return sorted(stored_records(settings, contracts[DATASET]), key=lambda r: r.id_number)


def audit_entries(settings: Settings) -> list[dict]:
    with engine_for(settings.store_url).connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.action == AUDIT_ACTION)).all()
    return [{"subject": r.subject, "actor": r.actor, **json.loads(r.details)} for r in rows]


def ingest_then_change(settings: Settings, contracts: dict[str, Contract], tmp_path: Path,
                       change: Callable[[dict], None]) -> tuple[dict[str, Contract], list]:
    """Ingest 30 generated records, change the contract, check the ingest is refused."""
    name, data = generate_extract(contracts[DATASET], 30, seed=11)
    assert ingest_file(settings, contracts, contracts[DATASET], name, data).batch.stored == 30
    before = stored(settings, contracts)
    changed = changed_catalog(tmp_path / "catalog", change)
    drop(settings, changed[DATASET], "second.csv", generate_extract(contracts[DATASET], 20, seed=12)[1])
    with pytest.raises(SchemaOutOfDate, match=r"dataset household_registration: .*jinshu catalog migrate"):
        pipeline.discover(settings, changed[DATASET], changed)
    return changed, before


def migrate_and_ingest(settings: Settings, changed: dict[str, Contract]):
    """Migrate, then ingest the waiting file under the changed contract."""
    plan = migrate(engine_for(settings.store_url), changed[DATASET], keys.protector(settings),
                   "tester", NOW)
    assert pipeline.run(settings, changed, changed[DATASET]), "the waiting file is ingested"
    with engine_for(settings.store_url).connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM batches WHERE file_key LIKE '%second.csv'"))
        assert status.scalar() == "loaded"
    return plan


def test_an_added_field_becomes_an_empty_column_and_nothing_stored_changes(settings, contracts,
                                                                           tmp_path):
    changed, before = ingest_then_change(settings, contracts, tmp_path, add_marital_status)
    added = re.escape("add column ds_household_registration.marital_status")
    with pytest.raises(SchemaOutOfDate, match=added):
        pipeline.discover(settings, changed[DATASET], changed)
    plan = migrate_and_ingest(settings, changed)
    assert [(s.action, s.field) for s in plan.steps] == [("add", "marital_status")]
    after = {r.id_number: r for r in stored(settings, changed)}
    for old in before:
        kept = after[old.id_number]
        assert (kept.name, kept.ethnicity, kept.marital_status) == (old.name, old.ethnicity, None)
    assert audit_entries(settings) == [{"subject": "ds_household_registration.marital_status",
                                        "actor": "tester", "dataset": DATASET, "step": "add",
                                        "field": "marital_status", "index": None, "values": 0}]


def test_a_retired_field_keeps_its_column_and_values_and_is_no_longer_written(settings, contracts,
                                                                             tmp_path):
    changed, before = ingest_then_change(settings, contracts, tmp_path, retire_address)
    plan = migrate_and_ingest(settings, changed)
    assert [(s.action, s.field) for s in plan.steps] == [("retire", "address")]
    after = {r.id_number: r for r in stored(settings, changed)}
    assert all(after[old.id_number].address == old.address for old in before)
    assert any(old.address for old in before)
    new_rows = [r for r in after.values() if r.id_number not in {o.id_number for o in before}]
    assert new_rows and all(r.address is None for r in new_rows)  # no longer written
    with engine_for(settings.store_url).connect() as conn:
        [row] = conn.execute(sa.select(retired_fields)).all()
    assert (row.dataset_id, row.field, row.sealed, row.retired_by) == (DATASET, "address", False,
                                                                       "tester")
    [entry] = audit_entries(settings)
    assert (entry["step"], entry["values"]) == ("retire", sum(1 for o in before if o.address))


def test_a_field_made_sensitive_is_encrypted_in_place_with_its_blind_index(settings, contracts,
                                                                          tmp_path):
    changed, before = ingest_then_change(settings, contracts, tmp_path, name_becomes_sensitive)
    plan = migrate_and_ingest(settings, changed)
    assert [(s.action, s.field, s.index) for s in plan.steps] == [("encrypt", "name", "_bidx_name")]
    raw = {r._mapping["_subject_key"]: r._mapping for r in table_rows(settings, "ds_household_registration")}
    clear_names = {o.name for o in before}
    assert not clear_names & {r["name"] for r in raw.values()}  # nothing readable at rest
    assert all(r["_bidx_name"] for r in raw.values())
    after = {r.id_number: r for r in stored(settings, changed)}
    assert all(after[old.id_number].name == old.name for old in before)
    [entry] = audit_entries(settings)
    assert (entry["step"], entry["index"], entry["values"]) == ("encrypt", "_bidx_name", len(before))


def test_a_field_no_longer_sensitive_is_decrypted_in_place_and_loses_its_blind_index(
        settings, contracts, tmp_path):
    changed, before = ingest_then_change(settings, contracts, tmp_path,
                                         ethnicity_stops_being_sensitive)
    plan = migrate_and_ingest(settings, changed)
    assert [(s.action, s.field) for s in plan.steps] == [("decrypt", "ethnicity")]
    with engine_for(settings.store_url).connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("ds_household_registration")}
    assert "_bidx_ethnicity" not in columns
    raw = sorted(r._mapping["ethnicity"] or "" for r in table_rows(settings, "ds_household_registration"))
    assert set(o.ethnicity or "" for o in before) <= set(raw)  # in the clear at rest
    after = {r.id_number: r for r in stored(settings, changed)}
    assert all(after[old.id_number].ethnicity == old.ethnicity for old in before)
    [entry] = audit_entries(settings)
    assert (entry["step"], entry["values"]) == ("decrypt", sum(1 for o in before if o.ethnicity))


def test_the_publishers_refuse_a_table_behind_its_contract(settings, contracts, tmp_path, monkeypatch):
    from jinshu import tasks

    name, data = generate_extract(contracts[DATASET], 10, seed=3)
    ingest_file(settings, contracts, contracts[DATASET], name, data)
    changed_catalog(tmp_path / "catalog", retire_address)
    monkeypatch.setattr(tasks, "get_settings", lambda: Settings(**{**settings.__dict__,
                                                                  "catalog_dir": tmp_path / "catalog"}))
    with pytest.raises(SchemaOutOfDate, match=re.escape("retire ds_household_registration.address")):
        tasks.publish_to_exchange(DATASET)


STORED = StoredTable(
    "ds_household_registration",
    {"id_number": "string", "name": "string", "sex": "string", "birth_date": "date",
     "ethnicity": "string", "county_code": "string", "address": "string",
     "registered_on": "date", "_bidx_ethnicity": "string", "_record_hash": "string",
     "_subject_key": "string", "_batch_id": "string", "_source_row": "integer",
     "_acquired_at": "datetime"},
    key=("_subject_key",), sealed=frozenset({"id_number", "ethnicity"}),
    clear=frozenset({"name", "sex", "birth_date", "county_code", "address", "registered_on"}),
    retired=frozenset())


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: (d.update(natural_key=["id_number", "name"]),  # no longer one record per person:
                [f.pop("authority", None) for f in d["fields"]]),  # not an authority either
     "dataset household_registration: the natural key changes from (id_number) to (id_number, name)"),
    (lambda d: field_of(d, "registered_on").update(type="string"),
     "dataset household_registration, field registered_on: its type changes from date to string"),
    (lambda d: field_of(d, "birth_date").update(sensitivity="sensitive_personal"),
     "dataset household_registration, field birth_date: its sensitivity changes to "
     "sensitive_personal, which changes how its stored date values are kept"),
], ids=["natural_key", "type", "sensitivity_of_a_date"])
def test_what_cannot_be_migrated_safely_is_refused_with_the_fix(tmp_path, change, says):
    changed = changed_catalog(tmp_path / "catalog", change)[DATASET]
    plan = diff(changed, STORED)
    [refusal] = plan.refusals
    assert refusal.startswith(says) and "Fix: " in refusal


def test_the_shipped_contract_matches_its_stored_table(contracts):
    assert diff(contracts[DATASET], STORED).in_step


def test_catalog_diff_prints_each_step_before_it_is_applied(contracts, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("JINSHU_HOME", str(home))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    monkeypatch.delenv("JINSHU_LANDING_URL", raising=False)
    settings = Settings.from_env()
    name, data = generate_extract(contracts[DATASET], 12, seed=5)
    ingest_file(settings, contracts, contracts[DATASET], name, data)
    changed_catalog(tmp_path / "catalog", lambda d: (name_becomes_sensitive(d), retire_address(d)))
    monkeypatch.setenv("JINSHU_CATALOG_DIR", str(tmp_path / "catalog"))
    runner = CliRunner()
    text = runner.invoke(app, ["catalog", "diff", DATASET])
    assert text.exit_code == 0, text.output
    assert ("encrypt the stored values of ds_household_registration.name in place (AES-256-GCM) "
            "and its blind index _bidx_name [12 stored value(s)]") in text.output
    assert "retire ds_household_registration.address" in text.output
    report = json.loads(runner.invoke(app, ["catalog", "diff", "--json"]).output)
    [household] = [d for d in report if d["dataset"] == DATASET]
    addresses = sum(1 for r in stored(settings, contracts) if r.address)
    assert [(s["action"], s["field"], s["values"]) for s in household["steps"]] == [
        ("encrypt", "name", 12), ("retire", "address", addresses)]
    assert all(not d["steps"] for d in report if d["dataset"] != DATASET)
    assert stored(settings, contracts)[0].name  # diff changed nothing: still clear, readable
    monkeypatch.setenv("USER", "someone-else")  # the actor is the OS user, not a variable
    done = runner.invoke(app, ["catalog", "migrate"])
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["catalog", "diff", DATASET]).output.strip() == f"{DATASET}: up to date"
    assert {e["actor"] for e in audit_entries(settings)} == {f"cli:{os_user()}"}  # not $USER


def naive_utc(moment) -> pd.Timestamp:
    moment = pd.Timestamp(moment)
    return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo else moment


def as_before_versions(conn, contract: Contract) -> int:
    """Rebuild ``contract``'s table as the code before revision 0009 made it: no validity
    columns, a unique constraint on the natural key; its rows kept. Returns how many."""
    table = dataset_table(contract)
    kept = [c.name for c in table.columns if c.name not in (VALID_FROM, VALID_TO)]
    rows = [dict(r._mapping) for r in conn.execute(sa.select(*(table.c[n] for n in kept)))]
    table.drop(conn)
    before = sa.Table(contract.table, sa.MetaData(),
                      *(c._copy() for c in table.columns if c.name in kept),
                      sa.UniqueConstraint(*policy.key_columns(contract),
                                          name=f"uq_{contract.table}_key"))
    before.create(conn)
    conn.execute(before.insert(), rows)
    return len(rows)


def test_a_store_made_before_migrations_is_stamped_and_keeps_its_rows(settings, contracts):
    name, data = generate_extract(contracts[DATASET], 15, seed=8)
    ingest_file(settings, contracts, contracts[DATASET], name, data)
    engine = engine_for(settings.store_url)
    with engine.begin() as conn:  # as the store was before: no version table, none of the
        conn.exec_driver_sql("DROP TABLE alembic_version")  # tables added by later revisions
        assert as_before_versions(conn, contracts[DATASET]) == 15  # nor dataset versions
        for later in ("retired_fields", "key_checks", "principals", "exchange_requests",
                      "exchange_access", "developer_authorizations", "repeat_runs",
                      "repeat_findings", "repeat_notices"):
            conn.exec_driver_sql(f"DROP TABLE {later}")
        conn.exec_driver_sql("DROP INDEX ix_batches_file_ref")
        conn.exec_driver_sql("ALTER TABLE batches DROP COLUMN file_ref")
        for later in ("through_seq", "shape"):  # revision 0010
            conn.exec_driver_sql(f"ALTER TABLE publications DROP COLUMN {later}")
        batches_before = conn.exec_driver_sql("SELECT count(*) FROM batches").scalar()
    ensure_schema(engine, contracts)
    with engine.connect() as conn:
        assert governance_revision(conn) == head_revision()
        assert conn.exec_driver_sql("SELECT count(*) FROM batches").scalar() == batches_before == 1
        assert sa.inspect(conn).has_table("retired_fields")
        assert sa.inspect(conn).has_table("developer_authorizations")
        assert "uscc" in {c["name"] for c in sa.inspect(conn).get_columns("principals")}
        assert all(sa.inspect(conn).has_table(t) for t in ("repeat_runs", "repeat_findings",
                                                           "repeat_notices"))
        assert {"through_seq", "shape"} <= {c["name"] for c in
                                           sa.inspect(conn).get_columns("publications")}
    assert len(stored(settings, contracts)) == 15


def test_revision_0009_gives_a_table_of_the_previous_code_versions_and_keeps_its_rows(
        settings, contracts):
    household = contracts[DATASET]
    name, data = generate_extract(household, 12, seed=9)
    first = ingest_file(settings, contracts, household, name, data).batch
    before = stored(settings, contracts)
    engine = engine_for(settings.store_url)
    with engine.begin() as conn:
        as_before_versions(conn, household)
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0008'"))
        for later in ("through_seq", "shape"):  # revision 0010, after this one
            conn.exec_driver_sql(f"ALTER TABLE publications DROP COLUMN {later}")
        conn.exec_driver_sql("ALTER TABLE exchange_access DROP COLUMN checksum")  # 0011
    ensure_schema(engine, contracts)  # what every DAG and command does first
    with engine.connect() as conn:
        assert governance_revision(conn) == head_revision()
        indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes(household.table)}
        assert indexes[f"uq_{household.table}_key"]["unique"]
        assert f"ix_{household.table}_history" in indexes
        assert describe(conn, household).key == ("_subject_key",)
    require_current(engine, household)  # the ingest and the publishers accept it
    after = stored(settings, contracts)
    assert [r.id_number for r in after] == [r.id_number for r in before]
    assert all(vars(a) == vars(b) for a, b in zip(after, before, strict=True))
    # Every kept row is its record's current version, valid from its batch's load.
    assert {naive_utc(r._valid_from) for r in after} == {naive_utc(first.finished_at)}
    assert naive_utc(first.finished_at) != naive_utc(first.received_at)
    assert all(r._valid_to is None for r in after)
    # The key is unique among current versions only, and a change now keeps history.
    changed = generate_frame(household, 12, seed=9).iloc[[0]]
    changed["address"] = "山西省太原市迎泽区柳巷3号"
    result = ingest_file(settings, contracts, household, "changed.csv",
                         render_extract(household, changed, seed=9)[1]).batch
    assert (result.stored, result.duplicates) == (1, 0)
    every = stored_records(settings, household, every_version=True)
    assert len(every) == 13 and sum(r._valid_to is None for r in every) == 12
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        row = conn.execute(sa.select(dataset_table(household)).limit(1)).first()._mapping
        conn.execute(dataset_table(household).insert().values(
            {**row, "_batch_id": "another", VALID_TO: None}))


def test_the_migrations_create_every_governance_table_as_tables_py_defines_it(settings, contracts):
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    names = {t.name for t in GOVERNANCE_TABLES}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": lambda obj, name, type_, *_: (
                (obj if type_ == "table" else obj.table).name in names)})
        assert compare_metadata(context, metadata) == []
