"""The whole flow through real Airflow runs (``dag.test()``), on three set-ups, as named scenarios.

SQLite + local folders (the embedded default), PostgreSQL + local folders, and
PostgreSQL + landing, open data and reports on S3 (moto's server over HTTP).
The module-scoped ``flow`` fixture runs the DAGs once per set-up and keeps what
each step left (store snapshots, open-data files, task logs, XCom); each test
then asserts one behaviour of it. The runs, in order:

1. every department drops a clean and a faulty extract (household registration
   sends one file twice); every ingest DAG, ``publish_exchange`` and
   ``publish_open_data`` run;
2. every ingest DAG runs again: nothing new, nothing changes;
3. an enterprise extract failing a critical expectation is ingested (its DAG
   fails), then both publishers run again;
4. a new data key is added and ``rotate_keys`` moves every value to it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
from airflow.models import DagBag
from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.dev.generate import UNDECLARED_MARKER, generate_extract, generate_frame, render_extract
from jinshu.govern import audit
from jinshu.protect import leakguard, policy, rotation
from jinshu.protect.keys import data_keyring, save_local_keyring
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore, open_store
from tests.helpers import fresh_buckets, fresh_database, make_settings, stored_records

pytestmark = pytest.mark.xdist_group("airflow")  # one worker owns the shared Airflow DB
DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
BACKENDS = ["sqlite-local", "postgres-local", "postgres-s3"]
FAULTS = {
    "household_registration": {"bad_checksum", "duplicate_rows"},
    "social_insurance_enrollment": {"undeclared_column"},
    "minimum_living_allowance": {"gb18030", "ragged_rows"},
    "enterprise_registration": {"xlsx"},
    "vaccination_sites": {"duplicate_rows"},
}
SET_ASIDE = {  # what each faulty extract's planted faults must leave in its ledger row
    "household_registration": ("duplicates", "quarantined"),  # repeated rows, bad checksums
    "minimum_living_allowance": ("quarantined",),  # ragged rows
    "vaccination_sites": ("duplicates",),
}
RESENT = "resent.csv"  # household registration's clean extract, sent a second time
RAW_ID = re.compile(r"(?<![0-9A-Z])\d{17}[\dX](?![0-9A-Z])")


@dataclass(repr=False)
class Flow:
    """One set-up after every run: its settings, and what each step left behind."""

    settings: Settings
    contracts: dict[str, Contract]
    engine: Engine
    reports_url: str
    expected_batches: dict[str, str] = field(default_factory=dict)  # file key -> status
    runs: list[tuple[str, str, str]] = field(default_factory=list)  # dag id, expected, state
    first: dict[str, list[tuple]] = field(default_factory=dict)  # store after step 1
    rerun: dict[str, list[tuple]] = field(default_factory=dict)  # after step 2
    after_failure: dict[str, list[tuple]] = field(default_factory=dict)  # after step 3
    failing_file: str = ""
    open_csv: dict[str, bytes] = field(default_factory=dict)  # enterprises, before/after step 3
    clear: dict[str, list[SimpleNamespace]] = field(default_factory=dict)  # before/after rotation
    new_key: str = ""
    logs: str = ""
    xcom: list[tuple] = field(default_factory=list)

    def __repr__(self) -> str:  # short: pytest prints it beside every failed assertion
        return f"Flow({self.settings.store_url.split(':')[0]}, {self.settings.landing_url})"

    @property
    def open_data(self) -> ObjectStore:
        return open_store(self.settings.open_data_url, self.settings.s3_endpoint_url)

    def open_json(self, key: str) -> dict:
        return json.loads(self.open_data.read(key))

    def open_file(self, dataset_id: str, name: str) -> bytes:
        """A file of the dataset's current open-data version (its ``latest`` pointer)."""
        return self.open_data.read(self.open_json(f"{dataset_id}/latest.json")["path"] + name)

    def query(self, sql: str) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()

    def frame(self, table: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(sa.text(f'SELECT * FROM "{table}"'), conn)

    def batches(self) -> list[sa.Row]:
        return self.query("SELECT * FROM batches")

    def faulty_batch(self, dataset_id: str) -> sa.Row:
        [batch] = [b for b in self.batches() if b.dataset_id == dataset_id and "_2." in b.file_key]
        return batch


class TaskLogs(logging.Handler):
    """Every record that reaches the root logger while the DAGs run, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert not bag.import_errors
    return bag


@pytest.fixture(scope="module", params=BACKENDS)
def platform(request, tmp_path_factory, contracts) -> Iterator[tuple[Settings, str]]:
    """Settings of one set-up (a fresh store, folders or buckets) and its reports URL."""
    store, files = request.param.split("-")
    home = tmp_path_factory.mktemp(request.param) / "home"
    database = (fresh_database(request.getfixturevalue("pg_server")) if store == "postgres"
                else contextlib.nullcontext(None))  # SQLite: the embedded default
    with database as store_url:
        s3, reports_url = {}, None
        if files == "s3":
            endpoint = request.getfixturevalue("s3_endpoint")
            buckets = fresh_buckets(endpoint)
            s3 = {"landing_url": buckets["landing"], "open_data_url": buckets["open-data"],
                  "s3_endpoint_url": endpoint}
            reports_url = buckets["quality"]
        settings = make_settings(home, store_url=store_url, **s3)
        env = {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url,
               "JINSHU_LANDING_URL": settings.landing_url,
               "JINSHU_OPEN_DATA_URL": settings.open_data_url,
               "JINSHU_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
               "JINSHU_QUALITY_URL": reports_url or ""}
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, str(value))
            yield settings, reports_url or str(settings.quality_dir)


@pytest.fixture(scope="module")
def flow(platform, dagbag, contracts) -> Flow:
    """Every DAG run of the module on one set-up, once; what each step left."""
    settings, reports_url = platform
    flow = Flow(settings, contracts, engine_for(settings.store_url), reports_url)
    logs, root = TaskLogs(), logging.getLogger()
    root.addHandler(logs)
    try:
        _run_everything(flow, dagbag)
    finally:
        root.removeHandler(logs)
    flow.logs = "\n".join(logs.lines)
    flow.xcom = sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db").execute(
        "SELECT value FROM xcom").fetchall()
    return flow


def _run_everything(flow: Flow, dagbag: DagBag) -> None:
    contracts, settings = flow.contracts, flow.settings
    landing = open_store(settings.landing_url, settings.s3_endpoint_url)
    flow.expected_batches = drop_extracts(landing, contracts)
    ingest_all = [f"ingest_{c}" for c in contracts]
    for dag_id in [*ingest_all, "publish_exchange", "publish_open_data", "repeat_collection"]:  # step 1
        run(flow, dagbag, dag_id)
    flow.first = snapshot(flow.engine)
    for dag_id in ingest_all:  # step 2
        run(flow, dagbag, dag_id)
    flow.rerun = snapshot(flow.engine)

    enterprises = contracts["enterprise_registration"]  # step 3
    csv = f"{enterprises.id}.csv"
    flow.open_csv["before"] = flow.open_file(enterprises.id, csv)
    frame = generate_frame(enterprises, 40, seed=9)
    frame.loc[[1, 2], "established_on"] = "2031-05-01"  # founded in the future: critical
    name, data = render_extract(enterprises, frame, seed=9)
    flow.failing_file = enterprises.landing_prefix + name
    landing.write(flow.failing_file, data)
    flow.expected_batches[flow.failing_file] = "quarantined"
    run(flow, dagbag, f"ingest_{enterprises.id}", expected="failed")
    run(flow, dagbag, "publish_exchange")
    run(flow, dagbag, "publish_open_data")
    flow.after_failure = snapshot(flow.engine)
    flow.open_csv["after"] = flow.open_file(enterprises.id, csv)

    household = contracts["household_registration"]  # step 4
    flow.clear["before"] = stored_records(settings, household)
    save_local_keyring(settings, data_keyring(settings).with_new_key())
    run(flow, dagbag, "rotate_keys")
    flow.new_key = data_keyring(settings).active
    flow.clear["after"] = stored_records(settings, household)


def drop_extracts(landing: ObjectStore, contracts: dict[str, Contract]) -> dict[str, str]:
    """A clean and a faulty extract per department, one file sent twice; file key -> status."""
    expected = {}
    for contract in contracts.values():
        for seed, faults in ((1, frozenset()), (2, frozenset(FAULTS[contract.id]))):
            header = "name" if "xlsx" in faults else "title"
            name, data = generate_extract(contract, 60, seed=seed, faults=faults, header=header)
            landing.write(contract.landing_prefix + name, data)
            expected[contract.landing_prefix + name] = "loaded"
            if seed == 1 and contract.id == "household_registration":
                landing.write(contract.landing_prefix + RESENT, data)
                expected[contract.landing_prefix + RESENT] = "repeat_drop"
    return expected


def run(flow: Flow, dagbag: DagBag, dag_id: str, expected: str = "success") -> None:
    flow.runs.append((dag_id, expected, str(dagbag.dags[dag_id].test().state)))


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every table's rows (publications aside: each run adds one per dataset)."""
    with engine.connect() as conn:
        tables = sorted(t for t in sa.inspect(conn).get_table_names() if t != "publications")
        return {t: sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{t}"'))), key=repr)
                for t in tables}


def shareable(flow: Flow) -> list[Contract]:
    return [c for c in flow.contracts.values() if c.is_shareable]


def open_datasets(flow: Flow) -> list[Contract]:
    return [c for c in flow.contracts.values() if c.is_open]


def captured(flow: Flow) -> list[str]:
    """Task logs and XCom as text, once we know they were really read."""
    assert "batches of household_registration" in flow.logs and flow.xcom, "nothing captured"
    return [flow.logs, repr(flow.xcom)]


# --- the runs --------------------------------------------------------------------------------


def test_every_dag_run_ends_as_expected(flow):
    assert [(d, state) for d, _, state in flow.runs] == [(d, expected) for d, expected, _ in flow.runs]


# --- ingest: the ledger ----------------------------------------------------------------------


def test_each_dropped_file_is_one_batch_and_a_resent_file_a_repeat_drop(flow):
    assert {b.file_key: b.status for b in flow.batches()} == flow.expected_batches


def test_every_row_is_stored_deduplicated_or_quarantined(flow):
    for b in flow.batches():
        assert b.rows_in == b.stored + b.duplicates + b.quarantined, b.file_key


@pytest.mark.parametrize(("dataset_id", "counts"), SET_ASIDE.items(), ids=list(SET_ASIDE))
def test_planted_faults_are_set_aside_in_the_ledger(flow, dataset_id, counts):
    batch = flow.faulty_batch(dataset_id)
    for count in counts:
        assert getattr(batch, count) >= 1, count


def test_a_quarantined_row_names_its_row_and_column(flow):
    reasons = [r.message for r in flow.query(
        "SELECT q.message FROM quarantine q JOIN batches b USING (batch_id) "
        "WHERE b.dataset_id = 'household_registration'")]
    assert any(", column id_number:" in r and ", row " in r for r in reasons)


def test_an_undeclared_column_is_recorded_as_a_scope_violation(flow):
    [scope] = flow.query("SELECT * FROM scope_violations")
    assert (scope.dataset_id, scope.column_header) == ("social_insurance_enrollment", "备注")


def test_no_undeclared_value_reaches_a_table(flow):
    for table, rows in flow.first.items():
        assert UNDECLARED_MARKER not in repr(rows), table


def test_each_dataset_table_holds_exactly_what_its_batches_stored(flow):
    batches = flow.batches()
    for contract in flow.contracts.values():
        stored = sum(b.stored for b in batches if b.dataset_id == contract.id)
        [(count,)] = flow.query(f"SELECT count(*) FROM {contract.table}")
        assert count == stored, contract.id


def test_every_loaded_batch_was_validated_by_its_quality_suite(flow):
    validated = {r.batch_id for r in flow.query("SELECT DISTINCT batch_id FROM quality_results")}
    assert {b.batch_id for b in flow.batches() if b.status == "loaded"} <= validated


def test_a_second_ingest_run_changes_nothing(flow):
    assert flow.rerun == flow.first


# --- a batch failing a critical expectation --------------------------------------------------


def test_a_batch_failing_a_critical_expectation_is_quarantined_whole_naming_it(flow):
    [failed] = [b for b in flow.batches() if b.file_key == flow.failing_file]
    assert failed.status == "quarantined" and failed.stored == 0
    assert "established_on.plausible" in failed.reason


def test_a_failed_batch_changes_neither_the_store_nor_the_exchange(flow):
    enterprises = flow.contracts["enterprise_registration"]
    for table in (enterprises.table, f"ex_{enterprises.id}"):
        assert flow.after_failure[table] == flow.first[table], table


def test_a_failed_batch_changes_no_open_data(flow):
    assert flow.open_csv["after"] == flow.open_csv["before"]


# --- the exchange ----------------------------------------------------------------------------


def test_exchange_holds_every_stored_record_of_each_shareable_dataset(flow):
    for contract in shareable(flow):
        [(stored,)] = flow.query(f"SELECT count(*) FROM {contract.table}")
        assert len(flow.frame(f"ex_{contract.id}")) == stored, contract.id


def test_exchange_rows_carry_source_department_and_acquisition_date(flow):
    for contract in shareable(flow):
        exchange = flow.frame(f"ex_{contract.id}")
        assert set(exchange["source_department"]) == {contract.department.name}
        assert exchange["acquired_on"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), contract.id


def test_exchange_masks_personal_fields(flow):
    masked = 0
    for contract in shareable(flow):
        exchange = flow.frame(f"ex_{contract.id}")
        clear = pd.DataFrame([vars(r) for r in stored_records(flow.settings, contract)])
        for f in contract.fields:
            if policy.on_exit(f, contract, policy.EXCHANGE) != "mask":
                continue
            values = set(clear[f.name].dropna().astype(str))
            masked += bool(values)
            leaked = values & set(exchange[f.name].dropna())
            assert not leaked, f"{contract.id}.{f.name}: {len(leaked)} value(s) in the clear"
    assert masked, "no personal value was published to check"


# --- open data -------------------------------------------------------------------------------


def test_open_data_catalog_lists_exactly_the_open_datasets(flow):
    listed = {d["id"] for d in flow.open_json("index.json")["datasets"]}
    assert listed == {c.id for c in open_datasets(flow)}
    turtle = flow.open_data.read("catalog.ttl").decode()
    assert all(f"/id/dataset/{c.id}>" in turtle for c in open_datasets(flow))


def test_open_data_has_source_and_acquisition_date(flow):
    for contract in open_datasets(flow):
        stamp = json.loads(flow.open_file(contract.id, "provenance.json"))
        [(acquired,)] = flow.query(f"SELECT max(_acquired_at) FROM {contract.table}")
        assert stamp["department"] == contract.department.name
        assert stamp["acquired_at"][:10] == str(acquired)[:10], contract.id
        rows = pd.read_csv(io.BytesIO(flow.open_file(contract.id, f"{contract.id}.csv")), dtype=str,
                           encoding="utf-8-sig")
        assert set(rows["source_department"]) == {contract.department.name}, contract.id


def test_open_data_csv_and_parquet_hold_the_rows_the_package_announces(flow):
    for contract in open_datasets(flow):
        announced = json.loads(flow.open_file(contract.id, "datapackage.json"))["jinshu"]["rows"]
        csv = pd.read_csv(io.BytesIO(flow.open_file(contract.id, f"{contract.id}.csv")),
                          encoding="utf-8-sig")
        parquet = pd.read_parquet(io.BytesIO(flow.open_file(contract.id, f"{contract.id}.parquet")))
        assert len(csv) == len(parquet) == announced, contract.id


def test_no_raw_identifier_or_undeclared_value_in_open_data(flow):
    for contract in open_datasets(flow):
        for name in (f"{contract.id}.csv", f"{contract.id}.json", "datapackage.json", "provenance.json"):
            text = flow.open_file(contract.id, name).decode("utf-8-sig")
            assert not RAW_ID.search(text), f"raw ID number in open data {name}"
            assert UNDECLARED_MARKER not in text, name


# --- reports, keys, audit --------------------------------------------------------------------


def test_scorecard_covers_every_dataset_without_raw_identifiers(flow):
    scorecard = open_store(flow.reports_url, flow.settings.s3_endpoint_url).read(
        "scorecard.html").decode()
    assert [c.id for c in flow.contracts.values() if c.title not in scorecard] == []
    assert not RAW_ID.search(scorecard)


def test_rotation_moves_every_stored_value_to_the_new_key(flow):
    assert {k for (_, _, k) in rotation.key_counts(flow.engine, flow.contracts)} == {flow.new_key}


def test_rotation_changes_no_plaintext(flow):
    assert flow.clear["before"] and flow.clear["after"] == flow.clear["before"]


def test_audit_chain_is_intact_and_records_every_step(flow):
    with flow.engine.connect() as conn:
        assert audit.verify(conn).intact
    actions = {r.action for r in flow.query("SELECT action FROM audit_log")}
    assert {"ingest", "quarantine_file", "publish_exchange", "publish_open_data",
            "key_rotation"} <= actions


def test_dag_runs_are_audited_under_the_task_that_acted(flow):
    actors = {r.actor for r in flow.query("SELECT DISTINCT actor FROM audit_log")}
    acted = {tuple(a.removeprefix("airflow:").split(".", 1)) for a in actors}
    assert all(a.startswith("airflow:") for a in actors), actors
    assert {("publish_exchange", "publish_dataset"), ("publish_open_data", "publish_dataset"),
            ("ingest_household_registration", "load_batch")} <= acted


def test_repeat_detection_ran_on_the_ingested_datasets_and_logged_counts_only(flow):
    [run_row] = flow.query("SELECT run_id, held_elsewhere, compared FROM repeat_runs")
    assert (run_row.held_elsewhere, run_row.compared) == (4, 4)
    findings = flow.query("SELECT collector_dataset, collector_subjects FROM repeat_findings")
    assert {f.collector_dataset for f in findings} == {"social_insurance_enrollment",
                                                       "minimum_living_allowance"}
    assert all(f.collector_subjects > 0 for f in findings)
    assert f"repeat collection after run {run_row.run_id}" in flow.logs


# --- nothing leaks into task logs or XCom ----------------------------------------------------


def test_no_raw_identifier_reaches_task_logs_or_xcom(flow):
    for text in captured(flow):
        assert leakguard.scan(text) == []


def test_no_undeclared_value_reaches_task_logs_or_xcom(flow):
    for text in captured(flow):
        assert UNDECLARED_MARKER not in text


def test_no_key_material_reaches_task_logs_or_xcom(flow):
    secrets = [k.hex() for k in data_keyring(flow.settings).keys.values()]
    secrets.append((flow.settings.keys_dir / "pseudonym.key").read_text().strip())
    for text in captured(flow):
        assert not [s for s in secrets if s in text]
