"""The whole flow through real Airflow runs (``dag.test()``) on three set-ups.

SQLite + local folders (the embedded default), PostgreSQL + local folders,
and PostgreSQL + landing/open data on S3 (moto's server over HTTP). Every
department drops a clean extract and a faulty one; then every ingest DAG,
``publish_exchange`` and ``publish_open_data`` run, and a second ingest run
must change nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from airflow.models import DagBag

from jinshu.dev.generate import UNDECLARED_MARKER, generate_extract, generate_frame, render_extract
from jinshu.govern import audit
from jinshu.protect import leakguard, rotation
from jinshu.protect.keys import data_keyring, save_local_keyring
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from tests.helpers import make_settings, stored_records

pytestmark = pytest.mark.xdist_group("airflow")  # one worker owns the shared Airflow DB
DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
FAULTS = {
    "household_registration": {"bad_checksum", "duplicate_rows"},
    "social_insurance_enrollment": {"undeclared_column"},
    "minimum_living_allowance": {"gb18030", "ragged_rows"},
    "enterprise_registration": {"xlsx"},
    "vaccination_sites": {"duplicate_rows"},
}
RAW_ID = re.compile(r"(?<![0-9A-Z])\d{17}[\dX](?![0-9A-Z])")


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert not bag.import_errors
    return bag


@pytest.fixture(params=["sqlite-local", "postgres-local", "postgres-s3"])
def platform(request, tmp_path, monkeypatch) -> Settings:
    store, files = request.param.split("-")
    store_url = request.getfixturevalue("pg_url") if store == "postgres" else None
    s3 = {}
    if files == "s3":
        buckets = request.getfixturevalue("s3_buckets")
        s3 = {"landing_url": buckets["landing"], "open_data_url": buckets["open-data"],
              "s3_endpoint_url": request.getfixturevalue("s3_endpoint")}
        monkeypatch.setenv("JINSHU_QUALITY_URL", buckets["quality"])
    settings = make_settings(tmp_path / "home", store_url=store_url, **s3)
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url,
                       "JINSHU_LANDING_URL": settings.landing_url,
                       "JINSHU_OPEN_DATA_URL": settings.open_data_url,
                       "JINSHU_S3_ENDPOINT_URL": settings.s3_endpoint_url or ""}.items():
        monkeypatch.setenv(key, str(value))
    return settings


def drop_extracts(settings: Settings, contracts) -> int:
    """A clean and a faulty extract per department, plus one file sent twice."""
    landing = open_store(settings.landing_url, settings.s3_endpoint_url)
    for contract in contracts.values():
        for seed, faults in ((1, frozenset()), (2, frozenset(FAULTS[contract.id]))):
            header = "name" if "xlsx" in faults else "title"
            name, data = generate_extract(contract, 60, seed=seed, faults=faults, header=header)
            landing.write(contract.landing_prefix + name, data)
            if seed == 1 and contract.id == "household_registration":
                landing.write(contract.landing_prefix + "resent.csv", data)
    return 2 * len(contracts) + 1


def run(dagbag: DagBag, dag_id: str, expected: str = "success") -> None:
    assert dagbag.dags[dag_id].test().state == expected, dag_id


def snapshot(conn: sa.Connection) -> dict[str, list[tuple]]:
    tables = sorted(t for t in sa.inspect(conn).get_table_names() if t != "publications")
    return {t: sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{t}"'))), key=repr)
            for t in tables}


def test_extracts_flow_from_landing_to_exchange_and_open_data(dagbag, platform, contracts, caplog):
    dropped = drop_extracts(platform, contracts)
    for contract in contracts.values():
        run(dagbag, f"ingest_{contract.id}")
    run(dagbag, "publish_exchange")
    run(dagbag, "publish_open_data")

    engine = engine_for(platform.store_url)
    with engine.connect() as conn:
        batches = conn.execute(sa.text("SELECT * FROM batches")).all()
        assert len(batches) == dropped
        for b in batches:  # nothing silently lost
            assert b.rows_in == b.stored + b.duplicates + b.quarantined, b.file_key
        by_status = pd.Series([b.status for b in batches]).value_counts().to_dict()
        assert by_status == {"loaded": dropped - 1, "repeat_drop": 1}
        faulty = {b.dataset_id: b for b in batches if "_2." in b.file_key}
        assert faulty["household_registration"].duplicates >= 1
        assert faulty["household_registration"].quarantined >= 1
        assert faulty["minimum_living_allowance"].quarantined >= 1  # ragged rows
        assert faulty["vaccination_sites"].duplicates >= 1
        reasons = conn.execute(sa.text(
            "SELECT q.message FROM quarantine q JOIN batches b USING (batch_id) "
            "WHERE b.dataset_id = 'household_registration'")).scalars().all()
        assert any(", column id_number:" in r and ", row " in r for r in reasons)
        [scope] = conn.execute(sa.text("SELECT * FROM scope_violations")).all()
        assert (scope.dataset_id, scope.column_header) == ("social_insurance_enrollment", "备注")
        for contract in contracts.values():
            stored = sum(b.stored for b in batches if b.dataset_id == contract.id)
            count = conn.execute(sa.text(f"SELECT count(*) FROM {contract.table}")).scalar()
            assert count == stored, contract.id
            if contract.is_shareable:
                exchange = pd.read_sql(sa.text(f"SELECT * FROM ex_{contract.id}"), conn)
                assert len(exchange) == count
                assert set(exchange["source_department"]) == {contract.department.name}
                assert exchange["acquired_on"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
                for f in contract.fields:
                    if f.format == "cn_ric":
                        assert exchange[f.name].str.contains(r"\*").all()
        validated = set(conn.execute(sa.text(
            "SELECT DISTINCT batch_id FROM quality_results")).scalars())
        assert {b.batch_id for b in batches if b.status == "loaded"} <= validated
        acquired = {c.id: str(conn.execute(sa.text(f"SELECT max(_acquired_at) FROM {c.table}"))
                              .scalar())[:10] for c in contracts.values()}
        before = snapshot(conn)

    open_files = open_store(platform.open_data_url, platform.s3_endpoint_url)
    catalog = json.loads(open_files.read("catalog.json"))
    assert {d["dct:identifier"] for d in catalog["dcat:dataset"]} == {
        c.id for c in contracts.values() if c.is_open}
    for contract in (c for c in contracts.values() if c.is_open):
        package = json.loads(open_files.read(f"{contract.id}/datapackage.json"))
        assert package["jinshu"]["source_department"] == contract.department.name
        assert package["jinshu"]["acquired_at"][:10] == acquired[contract.id]
        data = open_files.read(f"{contract.id}/{contract.id}.csv").decode()
        frame = pd.read_csv(io.StringIO(data), dtype=str)
        assert len(frame) == package["jinshu"]["rows"]
        assert set(frame["source_department"]) == {contract.department.name}
        parquet = pd.read_parquet(io.BytesIO(open_files.read(f"{contract.id}/{contract.id}.parquet")))
        assert len(parquet) == len(frame)
        for name in (f"{contract.id}.csv", f"{contract.id}.json", "datapackage.json"):
            text = open_files.read(f"{contract.id}/{name}").decode()
            assert not RAW_ID.search(text), f"raw ID number in open data {name}"
            assert UNDECLARED_MARKER not in text
    for table, rows in before.items():
        assert UNDECLARED_MARKER not in repr(rows), table

    reports = os.environ.get("JINSHU_QUALITY_URL") or str(platform.quality_dir)
    scorecard = open_store(reports, platform.s3_endpoint_url).read("scorecard.html").decode()
    assert all(c.title in scorecard for c in contracts.values())
    assert not RAW_ID.search(scorecard)

    for contract in contracts.values():  # a second run finds nothing new and changes nothing
        run(dagbag, f"ingest_{contract.id}")
    with engine.connect() as conn:
        assert snapshot(conn) == before

    # A batch failing a critical expectation turns validate_quality red and changes nothing
    # downstream: not the central store, not the exchange, not open data.
    enterprises = contracts["enterprise_registration"]
    published = open_files.read(f"{enterprises.id}/{enterprises.id}.csv")
    frame = generate_frame(enterprises, 40, seed=9)
    frame.loc[[1, 2], "established_on"] = "2031-05-01"
    name, data = render_extract(enterprises, frame, seed=9)
    open_store(platform.landing_url, platform.s3_endpoint_url).write(
        enterprises.landing_prefix + name, data)
    run(dagbag, f"ingest_{enterprises.id}", expected="failed")
    run(dagbag, "publish_exchange")
    run(dagbag, "publish_open_data")
    with engine.connect() as conn:
        after = snapshot(conn)
        [failed] = conn.execute(sa.text(
            "SELECT * FROM batches WHERE status = 'quarantined'")).all()
    assert failed.file_key.endswith(name) and "established_on.plausible" in failed.reason
    for table in (enterprises.table, f"ex_{enterprises.id}"):
        assert after[table] == before[table]
    assert open_files.read(f"{enterprises.id}/{enterprises.id}.csv") == published
    # Key rotation through its DAG: every value moves to the new key, no plaintext changes.
    household = contracts["household_registration"]
    clear_before = stored_records(platform, household)
    keyring = save_local_keyring(platform, data_keyring(platform).with_new_key())
    run(dagbag, "rotate_keys")
    new_key = data_keyring(platform).active
    assert {k for (_, _, k) in rotation.key_counts(engine, contracts)} == {new_key}
    assert stored_records(platform, household) == clear_before and keyring.exists()

    with engine.connect() as conn:  # every step left an entry, and the chain holds
        assert audit.verify(conn).intact
        actions = set(conn.execute(sa.text("SELECT action FROM audit_log")).scalars())
    assert {"ingest", "quarantine_file", "publish_exchange", "publish_open_data",
            "key_rotation"} <= actions

    # Nothing personal or undeclared reached the task logs or XCom.
    xcom = sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db").execute(
        "SELECT value FROM xcom").fetchall()
    assert "batches of household_registration" in caplog.text and xcom  # we read the real logs
    secrets = [k.hex() for k in data_keyring(platform).keys.values()]
    secrets.append((platform.keys_dir / "pseudonym.key").read_text().strip())
    for text in (caplog.text, repr(xcom)):
        assert leakguard.scan(text) == []
        assert UNDECLARED_MARKER not in text
        assert not [s for s in secrets if s in text]  # no key material either
