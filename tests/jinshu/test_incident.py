"""Incident response and the leak guard on every outgoing artifact (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu import quality, tasks
from jinshu.cli import app
from jinshu.cli.common import os_user
from jinshu.dev.generate import generate_frame, render_extract
from jinshu.govern import audit, incident, scorecard
from jinshu.open import package, publisher, site
from jinshu.protect import keys
from jinshu.protect.leakguard import LeakFound
from jinshu.quality import records as quality_records
from jinshu.settings import Settings
from jinshu.share import exchange, principals
from jinshu.share.decision import Refused
from jinshu.share.service import Exchange
from jinshu.store import dialect
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import batches, incidents
from tests.helpers import ingest_file, table_rows

RAW_ID = "140105199803071232"  # a valid resident ID: address code, birth date, check digit
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DATASET = "vaccination_sites"  # shareable and open
PLATFORM = audit.PLATFORM  # the actor of what the DAGs do


@pytest.fixture
def sites(settings, contracts):
    """Vaccination sites in the store (20 records), the engine and the open-data store."""
    contract = contracts[DATASET]
    ingest(settings, contracts, "a.csv", seed=1)
    engine = engine_for(settings.store_url)
    return contract, engine, open_store(settings.open_data_url)


def ingest(settings, contracts, name: str, seed: int, leak: bool = False) -> None:
    contract = contracts[DATASET]
    frame = generate_frame(contract, 20, seed=seed)
    if leak:
        frame.loc[3, "address"] = f"山西省太原市小店区 联系人身份证{RAW_ID}"
    ingest_file(settings, contracts, contract, name, render_extract(contract, frame, seed=seed)[1])


def exchange_read(settings, contracts, engine, token: str) -> int:
    """Rows a department reads through the exchange service, recorded before they are sent."""
    service = Exchange(engine, contracts, keys.protector(settings), keys.pseudonym_key(settings),
                       clock=lambda: T0 + timedelta(hours=5))
    page, record = service.read_page(token, DATASET, None, 1000, None, None)
    service.log.submit(record).result(timeout=30)
    return len(page.rows)


def gongan_token(engine) -> str:
    return principals.issue(engine, "核验系统", "sx_gongan", "department", 30, "ops", T0).token


def current(store, dataset: str = DATASET) -> dict[str, bytes]:
    """The files of the version the dataset's ``latest`` pointer names (empty: none)."""
    latest = site.pointer(store, dataset)
    if latest is None:
        return {}
    return {o.key.rsplit("/", 1)[1]: store.read(o.key) for o in store.list(latest["path"])}


def version(at: datetime) -> str:
    return package.version_name(at)


def trail(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        assert audit.verify(conn).intact
        return [(r.action, r.actor) for r in conn.execute(
            sa.select(audit.audit_log).where(audit.audit_log.c.action.not_in(["ingest"]))
            .order_by(audit.audit_log.c.seq))]


def test_open_suspends_the_exchange_and_close_restores_it(settings, contracts, sites):
    contract, engine, store = sites
    token = gongan_token(engine)
    assert exchange.publish(engine, contract, T0) == 20
    assert exchange_read(settings, contracts, engine, token) == 20

    opened = incident.open_incident(engine, store, DATASET, "wrong coordinates reported", "alice",
                                    T0 + timedelta(hours=1))
    with engine.connect() as conn:
        assert incident.active_incidents(conn, DATASET)
        [row] = incident.active_incidents(conn)
    assert (row.id, row.opened_by, row.reason) == (opened.incident_id, "alice", "wrong coordinates reported")
    with pytest.raises(Refused, match=rf"suspended by incident #{row.id}") as refused:
        exchange_read(settings, contracts, engine, token)
    assert refused.value.status == 423
    with pytest.raises(incident.DatasetSuspended):
        exchange.publish(engine, contract, T0 + timedelta(hours=2))
    with pytest.raises(incident.DatasetSuspended):
        publisher.publish(engine, store, contract, T0 + timedelta(hours=2))

    assert incident.close_incident(engine, DATASET, "coordinates corrected", "bob",
                                   T0 + timedelta(hours=3)) == [row.id]
    with engine.connect() as conn:
        assert not incident.active_incidents(conn, DATASET) and incident.active_incidents(conn) == []
        closed = conn.execute(sa.select(incidents)).one()
    assert (closed.closed_by, closed.close_reason) == ("bob", "coordinates corrected")
    assert exchange.publish(engine, contract, T0 + timedelta(hours=4)) == 20
    assert exchange_read(settings, contracts, engine, token) == 20
    assert publisher.publish(engine, store, contract, T0 + timedelta(hours=4)) == 20
    with pytest.raises(incident.IncidentError, match="no open incident"):
        incident.close_incident(engine, DATASET, "again", "bob", T0)
    assert trail(engine) == [
        ("principal_issued", "ops"), ("publish_exchange", PLATFORM), ("exchange_access", PLATFORM),
        ("incident_opened", "alice"), ("incident_closed", "bob"),
        ("publish_exchange", PLATFORM), ("exchange_access", PLATFORM), ("publish_open_data", PLATFORM)]


def test_open_withdraws_open_data_to_the_previous_safe_version(settings, contracts, sites):
    contract, engine, store = sites
    publisher.publish(engine, store, contract, T0)
    first = current(store)
    ingest(settings, contracts, "b.csv", seed=2)
    publisher.publish(engine, store, contract, T0 + timedelta(hours=1))
    second = current(store)
    assert set(second) == set(first) == {
        f"{DATASET}.csv", f"{DATASET}.json", f"{DATASET}.parquet", "datapackage.json", "provenance.json"}
    assert second != first
    v1, v2 = (version(T0 + timedelta(hours=h)) for h in (0, 1))
    assert site.pointer(store, DATASET)["versions"] == [v2, v1]

    opened = incident.open_incident(engine, store, DATASET, "bad batch b", "alice", T0 + timedelta(hours=2))
    assert current(store) == first
    assert opened.open_data == f"{store.url}/{DATASET}/{v1}/"
    assert store.list(f"{DATASET}/{v2}/") == []  # the unsafe version is not left in the public store
    assert site.pointer(store, DATASET)["versions"] == [v1]
    assert v2 not in store.read(f"{DATASET}/index.html").decode()  # nor on its page

    incident.close_incident(engine, DATASET, "batch b fixed", "bob", T0 + timedelta(hours=3))
    publisher.publish(engine, store, contract, T0 + timedelta(hours=4))  # the next run republishes
    assert current(store) != first
    incident.open_incident(engine, store, DATASET, "still wrong", "carol", T0 + timedelta(hours=5))
    assert current(store) == first  # skips the version the first incident found unsafe
    assert [a for a in trail(engine) if a[0] != "publish_open_data"] == [
        ("incident_opened", "alice"), ("open_data_withdrawn", "alice"), ("incident_closed", "bob"),
        ("incident_opened", "carol"), ("open_data_withdrawn", "carol")]


def test_publish_keeps_the_newest_versions_and_withdrawal_falls_back_to_them(
        settings, contracts, sites):
    contract, engine, store = sites
    times = [T0 + timedelta(hours=h) for h in range(4)]
    kept = []
    for seed, at in enumerate(times, start=2):
        ingest(settings, contracts, f"{seed}.csv", seed=seed)  # each version differs
        publisher.publish(engine, store, contract, at, keep_versions=2)
        kept.append(current(store))
    assert set(site.version_folders(store, DATASET)) == {version(at) for at in times[2:]}
    with engine.connect() as conn:
        removed = [json.loads(e.details)["versions_removed"] for e in conn.execute(
            sa.select(audit.audit_log).where(audit.audit_log.c.action == "publish_open_data")
            .order_by(audit.audit_log.c.seq))]
    assert removed == [0, 0, 1, 1]

    incident.open_incident(engine, store, DATASET, "bad batch", "alice", T0 + timedelta(hours=5))
    assert current(store) == kept[2]  # the newest safe version still kept
    incident.close_incident(engine, DATASET, "fixed", "bob", T0 + timedelta(hours=6))
    incident.open_incident(engine, store, DATASET, "worse", "carol", T0 + timedelta(hours=7))
    assert current(store) == {}  # older versions were removed: nothing safe is left


@pytest.mark.parametrize("value", ["0", "-1", "ten", "2.5"])
def test_kept_versions_must_be_a_whole_number_of_at_least_one(tmp_path, value):
    env = {"JINSHU_HOME": str(tmp_path), "JINSHU_OPEN_DATA_VERSIONS": value}
    with pytest.raises(ValueError, match=f"JINSHU_OPEN_DATA_VERSIONS='{value}'.*Fix"):
        Settings.from_env(env)
    assert Settings.from_env(env | {"JINSHU_OPEN_DATA_VERSIONS": "3"}).open_data_versions == 3
    assert Settings.from_env({"JINSHU_HOME": str(tmp_path)}).open_data_versions == 10


def test_open_without_a_previous_version_removes_the_product(sites, settings, monkeypatch):
    contract, engine, store = sites
    publisher.publish(engine, store, contract, T0)
    opened = incident.open_incident(engine, store, DATASET, "published by mistake", "alice", T0)
    assert opened.open_data is None
    assert store.list(f"{DATASET}/") == []

    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url}.items():
        monkeypatch.setenv(key, str(value))
    tasks.write_open_catalog()
    listed = json.loads(store.read("index.json"))["datasets"]
    assert DATASET not in {d["id"] for d in listed}
    assert DATASET not in store.read("catalog.ttl").decode()


def test_a_raw_id_blocks_the_exchange_keeps_its_contents_and_opens_an_incident(
        settings, contracts, sites):
    contract, engine, _ = sites
    exchange.publish(engine, contract, T0)
    before = sorted(table_rows(settings, f"ex_{DATASET}"))
    ingest(settings, contracts, "b.csv", seed=2, leak=True)
    with pytest.raises(LeakFound, match=rf"ex_{DATASET} rows .*cn_ric") as blocked:
        exchange.publish(engine, contract, T0 + timedelta(hours=1))
    assert RAW_ID not in str(blocked.value)
    assert sorted(table_rows(settings, f"ex_{DATASET}")) == before
    with engine.connect() as conn:
        [row] = incident.active_incidents(conn, DATASET)
    assert row.opened_by == incident.LEAK_GUARD and "exchange" in row.reason
    with pytest.raises(Refused, match="suspended"):
        exchange_read(settings, contracts, engine, gongan_token(engine))
    actions = trail(engine)
    assert actions[-3:-1] == [("publication_blocked", PLATFORM), ("incident_opened", incident.LEAK_GUARD)]
    assert RAW_ID not in repr(table_rows(settings, "audit_log"))


def test_a_raw_id_blocks_open_data_keeps_the_live_version_and_opens_an_incident(
        settings, contracts, sites):
    contract, engine, store = sites
    publisher.publish(engine, store, contract, T0)
    live = current(store)
    ingest(settings, contracts, "b.csv", seed=2, leak=True)
    with pytest.raises(LeakFound, match="cn_ric"):
        publisher.publish(engine, store, contract, T0 + timedelta(hours=1))
    assert current(store) == live
    assert store.list(f"{DATASET}/{version(T0 + timedelta(hours=1))}/") == []
    with engine.connect() as conn:
        assert incident.active_incidents(conn, DATASET)
    with pytest.raises(incident.DatasetSuspended):  # the next run does not try again
        publisher.publish(engine, store, contract, T0 + timedelta(hours=2))
    assert ("incident_opened", incident.LEAK_GUARD) in trail(engine)


def test_a_report_with_a_raw_id_is_not_written(settings, contracts, tmp_path):
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    household = contracts["household_registration"]

    def batch(batch_id: str, at: datetime, sample: list[str]) -> None:
        result = quality.QualityResult(
            "id_number.format", "critical", not sample, "1/200 unexpected", len(sample), sample,
            "ExpectColumnValuesToMatchRegex", {"column": "id_number", "regex": "^[0-9]{17}[0-9X]$"}, 200)
        with engine.begin() as conn:
            conn.execute(batches.insert().values(
                batch_id=batch_id, dataset_id=household.id, department=household.department.code,
                file_key=f"{batch_id}.csv", file_checksum="0" * 64, file_size=1, file_modified=at,
                received_at=at, status="loaded", rows_in=200, stored=200, finished_at=at))
            quality_records.store_results(conn, batch_id, household.id, [result], at)

    out = tmp_path / "reports"
    batch("household_registration-a", T0, [])
    paths = scorecard.build_reports(engine, out, contracts, now=T0)
    pages = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert paths["scorecard"] in pages and paths["data_docs"] in pages

    batch("household_registration-b", T0 + timedelta(hours=1), [RAW_ID])  # a masking bug
    with pytest.raises(LeakFound, match=r"scorecard\.html"):
        scorecard.build_reports(engine, out, contracts, now=T0 + timedelta(hours=1))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == pages
    with engine.connect() as conn:
        blocked = conn.execute(sa.select(audit.audit_log.c.details)
                               .where(audit.audit_log.c.action == "report_blocked")).scalars().all()
    assert len(blocked) == 2 and any("data-docs" in d for d in blocked)
    assert all(RAW_ID not in d for d in blocked)


def test_cli_opens_lists_and_closes_an_incident(sites, settings, monkeypatch):
    contract, engine, store = sites
    publisher.publish(engine, store, contract, T0)
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url,
                       "USER": "bob"}.items():
        monkeypatch.setenv(key, str(value))
    runner = CliRunner()
    opened = runner.invoke(app, ["incident", "open", DATASET, "--reason", "leak reported", "--by",
                                 "alice"])
    assert opened.exit_code == 0, opened.output
    assert "incident #1 opened" in opened.output and "open data live: none" in opened.output
    assert current(store) == {}
    listed = runner.invoke(app, ["incident", "list"])
    assert "#1" in listed.output and "alice" in listed.output and "leak reported" in listed.output
    rejected = runner.invoke(app, ["incident", "open", DATASET, "--reason", f"see {RAW_ID}"])
    assert rejected.exit_code == 1 and "raw identifier" in rejected.output
    assert runner.invoke(app, ["incident", "open", "nope", "--reason", "x"]).exit_code == 2

    closed = runner.invoke(app, ["incident", "close", DATASET, "--reason", "false alarm"])
    assert closed.exit_code == 0 and "closed incident(s) #1" in closed.output
    assert "no open incident" in runner.invoke(app, ["incident", "list"]).output
    again = runner.invoke(app, ["incident", "close", DATASET, "--reason", "false alarm"])
    assert again.exit_code == 1 and "has no open incident" in again.output
    me = f"cli:{os_user()}"  # the OS account, not $USER; --by is a note beside it
    assert [a for a in trail(engine) if a[0].startswith("incident")] == [
        ("incident_opened", f"{me} (note: alice)"), ("incident_closed", me)]
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_publish_tasks_skip_a_suspended_dataset_and_fail_on_a_leak(sites, settings, contracts,
                                                                   monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    _, engine, store = sites
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url}.items():
        monkeypatch.setenv(key, str(value))
    incident.open_incident(engine, store, DATASET, "under review", "alice", T0)
    for publish in (tasks.publish_to_exchange, tasks.publish_open_dataset):
        with pytest.raises(AirflowSkipException, match="suspended by incident #1"):
            publish(DATASET)
    incident.close_incident(engine, DATASET, "reviewed", "alice", T0)
    ingest(settings, contracts, "b.csv", seed=2, leak=True)
    with pytest.raises(AirflowFailException, match="cn_ric"):  # no retry: it would only be skipped
        tasks.publish_to_exchange(DATASET)


class LockSpy:
    """Stands in for :func:`incident.dataset_lock` and notes, per thread, whether the lock
    was free or taken when that thread asked for it; then holds it as the real one does."""

    def __init__(self, monkeypatch) -> None:
        self.real = incident.dataset_lock
        self.found: dict[str, str] = {}  # thread name -> "free" | "taken"
        self.noted = threading.Condition()
        monkeypatch.setattr(incident, "dataset_lock", self)

    @contextlib.contextmanager
    def __call__(self, engine, dataset_id):
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self.real(engine, dataset_id, wait=False))
                self._note("free")
            except dialect.LockBusy:
                self._note("taken")
                held.enter_context(self.real(engine, dataset_id))  # waits for the holder
            yield

    def _note(self, state: str) -> None:
        with self.noted:
            self.found[threading.current_thread().name] = state
            self.noted.notify_all()

    def found_by(self, thread: str) -> str:
        """How ``thread`` found the lock (a bound on the wait only so a hang fails)."""
        with self.noted:
            assert self.noted.wait_for(lambda: thread in self.found, timeout=60), thread
            return self.found[thread]


def open_incident_meanwhile(lock: LockSpy, engine, store, opened: list) -> threading.Thread:
    """Open an incident from another thread; return once it has asked for the dataset lock."""
    worker = threading.Thread(name="incident", target=lambda: opened.append(incident.open_incident(
        engine, store, DATASET, "reported during the publish", "alice", T0 + timedelta(hours=2))))
    worker.start()
    assert lock.found_by("incident") == "taken"  # the publication under way holds it
    return worker


def test_an_incident_opened_during_a_publish_waits_and_withdraws_what_it_wrote(
        settings, contracts, sites, monkeypatch):
    contract, engine, store = sites
    publisher.publish(engine, store, contract, T0)
    first = current(store)
    ingest(settings, contracts, "b.csv", seed=2)
    lock, render, opened, workers = LockSpy(monkeypatch), publisher.render, [], []

    def render_while_someone_opens_an_incident(*args, **kwargs):
        workers.append(open_incident_meanwhile(lock, engine, store, opened))
        return render(*args, **kwargs)

    monkeypatch.setattr(publisher, "render", render_while_someone_opens_an_incident)
    publisher.publish(engine, store, contract, T0 + timedelta(hours=1))
    workers[0].join(timeout=60)
    assert lock.found[threading.current_thread().name] == "free"
    assert current(store) == first  # the version written under the incident's feet is withdrawn
    with engine.connect() as conn:
        assert incident.active_incidents(conn, DATASET)
    assert opened[0].open_data.endswith(f"{DATASET}/{version(T0)}/")


def test_an_incident_opened_during_an_exchange_publish_waits_for_it_to_commit(settings, contracts, sites,
                                                                           monkeypatch):
    contract, engine, store = sites
    lock, load, opened, workers = LockSpy(monkeypatch), exchange.bulk_load, [], []

    def load_while_someone_opens_an_incident(*args, **kwargs):
        workers.append(open_incident_meanwhile(lock, engine, store, opened))
        return load(*args, **kwargs)

    monkeypatch.setattr(exchange, "bulk_load", load_while_someone_opens_an_incident)
    assert exchange.publish(engine, contract, T0) == 20
    workers[0].join(timeout=60)
    assert lock.found[threading.current_thread().name] == "free" and opened
    assert trail(engine) == [("publish_exchange", PLATFORM), ("incident_opened", "alice")]
    with pytest.raises(Refused, match="suspended") as refused:  # from then on, nothing leaves
        exchange_read(settings, contracts, engine, gongan_token(engine))
    assert refused.value.status == 423
