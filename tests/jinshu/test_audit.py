"""The audit log's hash chain detects a changed, deleted or reordered entry."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.dev.generate import generate_extract
from jinshu.govern import audit
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema
from tests.helpers import ingest_file


@pytest.fixture
def logged(settings, contracts):
    """A store with five audit entries."""
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    with engine.begin() as conn:
        for i in range(5):
            audit.append(conn, "admin", f"thing-{i}", {"n": i}, now=datetime(2026, 11, 1, tzinfo=UTC))
    return engine


def test_an_untouched_chain_verifies(logged):
    with logged.connect() as conn:
        verdict = audit.verify(conn)
    assert (verdict.intact, verdict.entries) == (True, 5)


@pytest.mark.parametrize(("tamper", "broken", "words"), [
    ("UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 3", 3, "content was changed"),
    ("UPDATE audit_log SET actor = 'someone' WHERE seq = 1", 1, "content was changed"),
    ("DELETE FROM audit_log WHERE seq = 2", 2, "entry 2 is missing"),
    ("UPDATE audit_log SET seq = 100 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 4; "
     "UPDATE audit_log SET seq = 4 WHERE seq = 100", 2, "does not follow"),
], ids=["modified-details", "modified-actor", "deleted", "reordered"])
def test_tampering_is_detected_at_the_first_broken_entry(logged, tamper, broken, words):
    with logged.begin() as conn:
        for statement in tamper.split("; "):
            conn.execute(sa.text(statement))
    with logged.connect() as conn:
        verdict = audit.verify(conn)
    assert (verdict.intact, verdict.first_broken) == (False, broken)
    assert words in verdict.reason


def test_ingest_publish_and_cli_leave_a_verifiable_trail(settings, contracts, monkeypatch):
    sites = contracts["vaccination_sites"]
    name, data = generate_extract(sites, 15, seed=2)
    ingest_file(settings, contracts, sites, name, data)
    ingest_file(settings, contracts, sites, "empty.csv", b"")
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url}.items():
        monkeypatch.setenv(key, str(value))
    runner = CliRunner()
    runner.invoke(app, ["consent", "record", "--dataset", "social_insurance_enrollment",
                        "--field", "email", "--id-number", "14010520010815068X",
                        "--decision", "granted", "--on", "2026-11-02"])
    with engine_for(settings.store_url).connect() as conn:
        actions = [r.action for r in conn.execute(sa.text("SELECT action FROM audit_log ORDER BY seq"))]
        trail = repr(conn.execute(sa.text("SELECT * FROM audit_log")).all())
    assert actions == ["ingest", "quarantine_file", "consent_decisions"]
    assert "14010520010815068" not in trail  # no personal value in the log
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0 and "intact: 3 entries" in verified.output
    with engine_for(settings.store_url).begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET subject = 'x' WHERE seq = 2"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "BROKEN at entry 2" in broken.output


def test_an_anchor_detects_entries_cut_off_the_end(logged, settings, monkeypatch):
    with logged.connect() as conn:
        anchor = audit.head(conn)
        assert anchor.startswith("5:") and audit.verify(conn, anchor).intact
    with logged.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq >= 4"))
    with logged.connect() as conn:
        assert audit.verify(conn).intact  # the chain alone cannot tell
        verdict = audit.verify(conn, anchor)
    assert (verdict.first_broken, verdict.reason) == (4, "entries 4-5 were cut off the end")
    for key, value in {"JINSHU_HOME": settings.home, "JINSHU_STORE_URL": settings.store_url}.items():
        monkeypatch.setenv(key, str(value))
    done = CliRunner().invoke(app, ["audit", "verify", "--anchor", anchor])
    assert done.exit_code == 1 and "cut off the end" in done.output
    assert CliRunner().invoke(app, ["audit", "head"]).output.startswith("3:")


def test_an_anchor_detects_a_rebuilt_log(logged):
    with logged.connect() as conn:
        anchor = audit.head(conn)
    with logged.begin() as conn:  # rewrite everything consistently from entry 1 on
        conn.execute(sa.text("DELETE FROM audit_log"))
        for i in range(6):
            audit.append(conn, "admin", f"forged-{i}", {}, now=datetime(2026, 11, 2, tzinfo=UTC))
    with logged.connect() as conn:
        assert audit.verify(conn).intact
        verdict = audit.verify(conn, anchor)
    assert (verdict.first_broken, verdict.intact) == (5, False)


def test_recomputing_the_hashes_without_the_key_is_detected(logged):
    """Delete two entries, renumber, and rebuild every hash as an intruder can (no audit key)."""
    with logged.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq IN (2, 3)"))
        rows = conn.execute(sa.select(audit.audit_log).order_by(audit.audit_log.c.seq)).all()
        conn.execute(sa.text("DELETE FROM audit_log"))
        prev = audit.GENESIS
        for seq, row in enumerate(rows, start=1):
            fields = (prev, str(seq), row.at, row.actor, row.action, row.subject, row.details)
            digest = hashlib.sha256("\x1f".join(fields).encode()).hexdigest()
            conn.execute(audit.audit_log.insert().values(
                seq=seq, at=row.at, actor=row.actor, action=row.action, subject=row.subject,
                details=row.details, prev_hash=prev, hash=digest))
            prev = digest
    with logged.connect() as conn:
        verdict = audit.verify(conn)
    assert (verdict.intact, verdict.first_broken, verdict.entries) == (False, 1, 1)
    assert "without the audit key" in verdict.reason


def test_every_publication_publishes_the_head_and_verify_detects_a_cut_end(
        pg_url, tmp_path, contracts, s3_buckets, s3_endpoint, monkeypatch):
    from jinshu import tasks
    from jinshu.store.objects import open_store
    from tests.helpers import make_settings

    env = {"JINSHU_HOME": str(tmp_path / "home"), "JINSHU_STORE_URL": pg_url,
           "JINSHU_LANDING_URL": s3_buckets["landing"],
           "JINSHU_OPEN_DATA_URL": s3_buckets["open-data"], "JINSHU_S3_ENDPOINT_URL": s3_endpoint}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = make_settings(tmp_path / "home", store_url=pg_url, landing_url=env[
        "JINSHU_LANDING_URL"], open_data_url=env["JINSHU_OPEN_DATA_URL"], s3_endpoint_url=s3_endpoint)
    sites = contracts["vaccination_sites"]
    name, data = generate_extract(sites, 15, seed=4)
    ingest_file(settings, contracts, sites, name, data)
    tasks.publish_to_exchange(sites.id)
    tasks.publish_open_dataset(sites.id)
    heads = open_store(s3_buckets["open-data"], s3_endpoint)
    published = [o.key for o in heads.list(audit.HEADS)]
    assert published == ["audit/heads/000000000002.json", "audit/heads/000000000003.json"]
    with engine_for(pg_url).connect() as conn:
        assert audit.published_head(heads) == audit.head(conn)
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    with engine_for(pg_url).begin() as conn:  # the last entry (the open-data publication) cut
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))
    with engine_for(pg_url).connect() as conn:
        assert audit.verify(conn).intact  # the chain alone cannot tell
    cut = runner.invoke(app, ["audit", "verify"])
    assert cut.exit_code == 1 and "entries 3-3 were cut off the end" in cut.output
