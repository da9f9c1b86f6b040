"""The exchange publish writes only what changed since the version it holds (SQLite and
PostgreSQL), ends exactly as a full publish would, and readers see the old or the new."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from jinshu.dev.generate import generate_frame, render_extract
from jinshu.protect import keys, leakguard
from jinshu.share import exchange
from jinshu.store.engine import engine_for
from jinshu.store.tables import audit_log, publications
from tests.helpers import ingest_file

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


def publish(settings, contract, at: datetime, **options) -> dict:
    """Publish; the details its audit entry recorded."""
    engine = engine_for(settings.store_url)
    exchange.publish(engine, contract, at, keys.protector(settings), **options)
    with engine.connect() as conn:
        return json.loads(conn.execute(sa.select(audit_log.c.details).where(
            audit_log.c.action == "publish_exchange").order_by(audit_log.c.seq.desc())).first()[0])


def exchange_rows(settings, contract) -> list[tuple]:
    with engine_for(settings.store_url).connect() as conn:
        return sorted(conn.execute(sa.select(exchange.exchange_table(contract))).all(), key=tuple)


def ingest(settings, contracts, contract, name: str, frame) -> None:
    ingest_file(settings, contracts, contract, name, render_extract(contract, frame, seed=1)[1])


def test_an_incremental_publish_writes_only_what_changed_and_equals_a_full_one(
        settings, contracts, household):
    people = generate_frame(household, 40, seed=21)
    ingest(settings, contracts, household, "a.csv", people.iloc[:30])
    first = publish(settings, household, T0)
    assert (first["rows"], first["written"]) == (30, 30) and "replaced" not in first
    first_rows = exchange_rows(settings, household)

    changed = people.iloc[:3].assign(name=people["name"].iloc[:3] + "某")
    again = people.iloc[[5]]  # identical: a duplicate, not a change
    ingest(settings, contracts, household, "b.csv", pd.concat([changed, again, people.iloc[30:32]]))
    second = publish(settings, household, T0 + timedelta(hours=1))
    assert (second["rows"], second["written"], second["replaced"], second["batches"]) == (32, 5, 3, 1)
    incremental = exchange_rows(settings, household)
    assert len(incremental) == 32
    by_subject = {r._subject_key: r.name for r in incremental}
    before = {r._subject_key: r.name for r in first_rows}
    assert sum(by_subject[k] != before[k] for k in before) == 3  # the three new names, masked

    nothing = publish(settings, household, T0 + timedelta(hours=2))
    assert (nothing["rows"], nothing["written"], nothing["replaced"]) == (32, 0, 0)
    full = publish(settings, household, T0 + timedelta(hours=3), full=True)
    assert (full["written"], "replaced" in full) == (32, False)
    assert exchange_rows(settings, household) == incremental
    with engine_for(settings.store_url).connect() as conn:
        versions = conn.execute(sa.select(publications.c.rows, publications.c.through_seq)
                                .order_by(publications.c.id)).all()
    assert [v.rows for v in versions] == [30, 32, 32, 32]
    assert all(v.through_seq for v in versions) and versions == sorted(versions, key=lambda v: v[1])


def test_a_new_way_of_masking_publishes_the_whole_table_again(settings, contracts, household):
    ingest(settings, contracts, household, "a.csv", generate_frame(household, 12, seed=22))
    publish(settings, household, T0)
    fields = [f.model_copy(update={"mask": "generic"}) if f.name == "name" else f
              for f in household.fields]
    masked_whole = household.model_copy(update={"fields": fields})
    from jinshu.store.tables import metadata

    metadata.remove(exchange.exchange_table(household))  # the table object follows the contract
    assert exchange.shape(masked_whole) != exchange.shape(household)
    again = publish(settings, masked_whole, T0 + timedelta(hours=1))
    assert (again["written"], "replaced" in again) == (12, False)
    assert {r.name for r in exchange_rows(settings, masked_whole)} == {"***"}
    metadata.remove(exchange.exchange_table(masked_whole))


def test_readers_see_the_old_version_until_an_incremental_publish_commits(
        settings, contracts, household):
    people = generate_frame(household, 20, seed=23)
    ingest(settings, contracts, household, "a.csv", people.iloc[:10])
    publish(settings, household, T0)
    ingest(settings, contracts, household, "b.csv", people.iloc[10:])
    writing, release = threading.Event(), threading.Event()
    real_guard = leakguard.guard

    def slow_guard(artifact: str, data: bytes) -> None:
        real_guard(artifact, data)
        writing.set()
        assert release.wait(60)

    table = exchange.exchange_table(household)
    engine = engine_for(settings.store_url)
    leakguard.guard = slow_guard
    try:
        publisher = threading.Thread(target=publish, args=(settings, household, T0 + timedelta(hours=1)))
        publisher.start()
        assert writing.wait(60)
        with engine.connect() as conn:  # while the new rows are being written
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 10
        release.set()
        publisher.join(60)
    finally:
        leakguard.guard = real_guard
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 20


def test_acquisition_dates_are_read_as_postgresql_prints_them(contracts):
    """COPY prints a moment without its fraction when it has none, and in the session's zone."""
    from jinshu.open.provenance import ACQUIRED_ON, stamp

    moments = pd.Series(["2026-12-03 10:00:00.123+00", "2026-12-02 23:30:00+08",
                         "2026-12-03 10:00:00.123+00"], dtype="str")
    stamped = stamp(pd.DataFrame(index=range(3)), contracts["household_registration"], moments)
    assert stamped[ACQUIRED_ON].tolist() == ["2026-12-03", "2026-12-02", "2026-12-03"]
