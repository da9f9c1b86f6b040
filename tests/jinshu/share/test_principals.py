"""Principals: credentials issued by the platform, stored hashed, expiring and revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.share import principals
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import audit_log
from jinshu.store.tables import principals as principals_table

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def engine(settings, contracts):
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    return engine


def test_a_token_authenticates_its_department_and_only_its_hash_is_stored(engine):
    issued = principals.issue(engine, "救助处", "sx_minzheng", "department", 30, "alice", NOW)
    with engine.connect() as conn:
        assert principals.authenticate(conn, issued.token, NOW).department == "sx_minzheng"
        row = conn.execute(sa.select(principals_table)).one()
        actions = conn.execute(sa.select(audit_log.c.action)).scalars().all()
    secret = issued.token.split(".", 1)[1]
    assert len(secret) == 43 and secret not in str(tuple(row))  # 256 bits, never stored
    assert row.secret_sha256 == principals.secret_hash(secret)
    assert actions == ["principal_issued"]


@pytest.mark.parametrize("case", ["missing", "malformed", "wrong_secret", "unknown_id", "expired",
                                  "revoked"])
def test_a_bad_credential_is_refused_with_what_to_do(engine, case):
    issued = principals.issue(engine, "救助处", "sx_minzheng", "department", 30, "alice", NOW)
    token, now = issued.token, NOW
    if case == "missing":
        token = None
    elif case == "malformed":
        token = "hello"
    elif case == "wrong_secret":
        token = issued.token[:-3] + ("aaa" if not issued.token.endswith("aaa") else "bbb")
    elif case == "unknown_id":
        token = "p_000000000000." + issued.token.split(".", 1)[1]
    elif case == "expired":
        now = NOW + timedelta(days=31)
    elif case == "revoked":
        principals.revoke(engine, issued.principal.id, "bob", NOW)
    with engine.connect() as conn, pytest.raises(principals.Unauthenticated) as refused:
        principals.authenticate(conn, token, now)
    assert "token" in str(refused.value) or "new one" in str(refused.value)


def test_cli_prints_the_token_once_lists_without_secrets_and_revokes(tmp_path, monkeypatch):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    added = runner.invoke(app, ["principals", "add", "社保核验", "--department", "sx_renshe",
                                "--days", "10", "--by", "alice"])
    assert added.exit_code == 0, added.output
    token = added.output.split("token (shown once, keep it secret): ")[1].strip()
    principal_id = token.split(".")[0]
    listed = runner.invoke(app, ["principals", "list"])
    assert principal_id in listed.output and "active" in listed.output
    assert token.split(".")[1] not in listed.output
    assert runner.invoke(app, ["principals", "revoke", principal_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["principals", "list"]).output
    again = runner.invoke(app, ["principals", "revoke", principal_id])
    assert again.exit_code == 1 and "no active principal" in again.output
    bad = runner.invoke(app, ["principals", "add", "x", "--department", "sx_renshe", "--kind", "robot"])
    assert bad.exit_code == 1 and "not one of" in bad.output
