"""The registry of developer authorizations: registration checked, changes audited, the
development report (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.cli.common import os_user
from jinshu.share import authorization, development, principals
from jinshu.share.authorization import RegistrationError
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import audit_log, developer_authorizations
from jinshu.vocab.formats.uscc import ALPHABET, WEIGHTS

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 2026-11-02 in China
TODAY = date(2026, 11, 2)
DATASETS = ["enterprise_registration"]
runner = CliRunner()


def uscc(serial: int) -> str:
    """A valid unified social credit code (an enterprise in 太原市小店区), one per ``serial``."""
    body = f"91140105{serial:09d}"
    total = sum(ALPHABET.index(c) * int(w) for c, w in zip(body, WEIGHTS, strict=True))
    return body + ALPHABET[(31 - total % 31) % 31]


@pytest.fixture
def engine(settings, contracts):
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    return engine


def register(engine, contracts, serial: int, *, expires_on: date, agreement: bool = True,
             filing: bool = True, now: datetime = NOW) -> int:
    """An authorization of organization ``serial``: with its agreement and filing unless told."""
    new_id = development.register(
        engine, contracts, organization=f"晋数开发者{serial}号有限公司", uscc=uscc(serial),
        datasets=DATASETS, purpose="企业信用产品研发", expires_on=expires_on, actor="tester",
        now=now, agreement_no=f"晋数协〔2026〕{serial}号" if agreement else None,
        agreement_on=now.date() if agreement else None)
    if filing:
        development.file(engine, new_id, f"晋数备〔2026〕{serial}号", now.date(), "tester", now)
    return new_id


def actions(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [(r.action, r.subject, r.actor) for r in conn.execute(
            sa.select(audit_log).where(audit_log.c.action.like("development_%"))
            .order_by(audit_log.c.seq))]


def test_the_report_lists_missing_filings_and_expiring_agreements_with_exact_rows(engine, contracts):
    a = register(engine, contracts, 1, expires_on=TODAY + timedelta(days=10))
    b = register(engine, contracts, 2, expires_on=TODAY + timedelta(days=200), filing=False)
    c = register(engine, contracts, 3, expires_on=date(2025, 12, 31), now=datetime(2025, 1, 2, tzinfo=UTC))
    d = register(engine, contracts, 4, expires_on=TODAY + timedelta(days=240), filing=False)
    development.revoke(engine, d, "协议终止", "tester", NOW)
    e = register(engine, contracts, 5, expires_on=TODAY + timedelta(days=100))
    f = register(engine, contracts, 6, expires_on=TODAY + timedelta(days=28), agreement=False)
    with engine.connect() as conn:
        found = development.report(conn, NOW, 30)
        wider = development.report(conn, NOW, 120)

    def shown(rows):
        return [(r["id"], r["status"], r["missing_agreement"], r["missing_filing"], r["days_left"])
                for r in rows]

    assert shown(found["authorizations"]) == [  # by the end of their term
        (c, "expired", False, False, -306), (a, "in_force", False, False, 10),
        (f, "incomplete", True, False, 28), (e, "in_force", False, False, 100),
        (b, "incomplete", False, True, 200), (d, "revoked", False, True, 240)]
    assert shown(found["missing_filings"]) == [(b, "incomplete", False, True, 200)]  # d revoked
    assert shown(found["expiring"]) == [(a, "in_force", False, False, 10),
                                        (f, "incomplete", True, False, 28)]
    assert shown(found["expired"]) == [(c, "expired", False, False, -306)]
    assert [r["id"] for r in wider["expiring"]] == [a, f, e]
    [row] = [r for r in found["authorizations"] if r["id"] == b]
    assert {k: row[k] for k in ("organization", "uscc", "datasets", "purpose", "agreement_no",
                                "agreement_on", "filing_no", "filed_on", "expires_on",
                                "registered_by", "revoked_at")} == {
        "organization": "晋数开发者2号有限公司", "uscc": uscc(2), "datasets": DATASETS,
        "purpose": "企业信用产品研发", "agreement_no": "晋数协〔2026〕2号", "agreement_on": "2026-11-02",
        "filing_no": None, "filed_on": None, "expires_on": "2027-05-21", "registered_by": "tester",
        "revoked_at": None}
    text = development.render(found)
    assert "filing (备案) missing" in text and "晋数开发者2号有限公司" in text and "MISSING" in text


def test_every_change_is_audited_and_a_revoked_authorization_cannot_change(engine, contracts):
    new_id = register(engine, contracts, 7, expires_on=TODAY + timedelta(days=60), agreement=False,
                      filing=False)
    development.record_agreement(engine, new_id, "晋数协〔2026〕7号", TODAY, "tester", NOW)
    development.file(engine, new_id, "晋数备〔2026〕7号", TODAY, "tester", NOW)
    with pytest.raises(RegistrationError, match="already filed"):
        development.file(engine, new_id, "晋数备〔2026〕8号", TODAY, "tester", NOW)
    development.revoke(engine, new_id, "协议终止", "tester", NOW)
    with pytest.raises(RegistrationError, match="was revoked"):
        development.revoke(engine, new_id, "再次撤销", "tester", NOW)
    subject = f"authorization:{new_id}"
    assert actions(engine) == [(a, subject, "tester") for a in (
        "development_authorized", "development_agreement", "development_filed",
        "development_revoked")]
    with engine.connect() as conn:
        row = conn.execute(sa.select(developer_authorizations)).one()
    assert (row.filing_no, row.revoke_reason, row.revoked_by) == ("晋数备〔2026〕7号", "协议终止", "tester")


@pytest.mark.parametrize(("change", "says"), [
    ({"uscc": "91140105MA0K1B2C1F"}, "field uscc: unified social credit code: check character does "
     "not match the first 17 characters. Fix: copy the code from the business licence"),
    ({"datasets": ["shoe_sizes"]}, "field datasets: no dataset shoe_sizes. Fix: use dataset ids"),
    ({"datasets": ["household_registration"]}, "field datasets: household_registration not shared "
     "unconditionally; developers read unconditional datasets only"),
    ({"expires_on": TODAY}, "field expires_on: the term has already ended. Fix: "),
    ({"agreement_on": None}, "field agreement: its number and its date go together. Fix: "),
    ({"agreement_on": TODAY + timedelta(days=1)}, "field agreement: its date is in the future"),
    ({"purpose": "核验 140105199803071232 的企业"}, "field purpose: carries a personal identifier"),
    ({"organization": " "}, "field organization: missing or shorter than 2 characters. Fix: "),
], ids=["uscc", "unknown_dataset", "conditional_dataset", "ended_term", "agreement_without_date",
        "agreement_in_the_future", "identifier_in_purpose", "no_organization"])
def test_a_bad_registration_is_refused_naming_the_field_and_the_fix(engine, contracts, change, says):
    asked = {"organization": "晋数科技有限公司", "uscc": uscc(9), "datasets": DATASETS,
             "purpose": "企业信用产品研发", "expires_on": TODAY + timedelta(days=90),
             "agreement_no": "晋数协〔2026〕9号", "agreement_on": TODAY} | change
    with pytest.raises(RegistrationError) as refused:
        development.register(engine, contracts, actor="tester", now=NOW, **asked)
    assert str(refused.value).startswith(says)
    assert "140105199803071232" not in str(refused.value) and "91140105MA0K1B2C1F" not in str(
        refused.value)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(developer_authorizations)
                            ).scalar() == 0
    assert actions(engine) == []


@pytest.mark.parametrize(("kind", "code", "says"), [
    ("developer", None, "a developer credential names its organization: pass --uscc"),
    ("developer", "91140105MA0K1B2C1F", "field uscc (--uscc): unified social credit code: check "
     "character does not match"),
    ("department", uscc(1), "only a developer credential names an organization"),
])
def test_a_developer_credential_names_a_valid_organization_and_only_it(engine, kind, code, says):
    with pytest.raises(principals.PrincipalError) as refused:
        principals.issue(engine, "开发组", "sx_renshe", kind, 30, "tester", NOW, uscc=code)
    assert str(refused.value).startswith(says)
    issued = principals.issue(engine, "开发组", "sx_renshe", "developer", 30, "tester", NOW,
                              uscc=uscc(1).lower())
    with engine.connect() as conn:
        assert principals.authenticate(conn, issued.token, NOW).uscc == uscc(1)  # normalized


@pytest.fixture
def cli_home(tmp_path, monkeypatch):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    return tmp_path / "home"


def test_cli_refuses_an_invalid_uscc_at_registration_naming_the_field_and_the_fix(cli_home):
    bad = "91140105MA0K1B2C1F"
    expires = (date.today() + timedelta(days=90)).isoformat()
    result = runner.invoke(app, ["developers", "add", "晋数科技有限公司", "--uscc", bad,
                                 "--dataset", "enterprise_registration", "--purpose", "企业信用产品研发",
                                 "--expires", expires])
    assert result.exit_code == 1
    assert ("rejected: field uscc: unified social credit code: check character does not match the "
            "first 17 characters. Fix: copy the code from the business licence; it has 18 "
            "characters") in result.output
    assert bad not in result.output
    listed = runner.invoke(app, ["developers", "list", "--json"])
    assert json.loads(listed.output) == {"authorizations": []}


def test_cli_registers_files_lists_reports_and_revokes_under_the_os_account(cli_home):
    today = authorization.today(datetime.now(UTC))  # terms are dated in China, not on this host
    added = runner.invoke(app, [
        "developers", "add", "晋数科技有限公司", "--uscc", uscc(3), "--dataset", "enterprise_registration",
        "--dataset", "vaccination_sites", "--purpose", "企业信用产品研发",
        "--expires", (today + timedelta(days=20)).isoformat(), "--agreement-no", "晋数协〔2026〕3号",
        "--signed-on", today.isoformat(), "--by", "on behalf of 数据局"])
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "authorization #1 registered: incomplete (missing: filing)"
    report = json.loads(runner.invoke(app, ["report", "development", "--json"]).output)
    assert [r["id"] for r in report["missing_filings"]] == [1]
    assert [(r["id"], r["days_left"]) for r in report["expiring"]] == [(1, 20)]  # within 30 days
    assert json.loads(runner.invoke(app, ["report", "development", "--json", "--within", "19"])
                      .output)["expiring"] == []
    filed = runner.invoke(app, ["developers", "file", "1", "--filing-no", "晋数备〔2026〕3号",
                                "--filed-on", today.isoformat()])
    assert filed.exit_code == 0 and filed.output.strip() == "authorization #1: in_force"
    listed = runner.invoke(app, ["developers", "list"])
    assert "in_force" in listed.output and "enterprise_registration,vaccination_sites" in listed.output
    assert json.loads(runner.invoke(app, ["report", "development", "--json"]).output
                      )["missing_filings"] == []
    text = runner.invoke(app, ["report", "development"]).output
    assert "filing (备案) missing: not usable until filed:\n  none" in text
    assert runner.invoke(app, ["developers", "revoke", "1", "--reason", "协议终止"]).exit_code == 0
    again = runner.invoke(app, ["developers", "revoke", "1", "--reason", "协议终止"])
    assert again.exit_code == 1 and "was revoked" in again.output
    assert "revoked" in runner.invoke(app, ["developers", "list"]).output
    engine = engine_for(f"sqlite:///{cli_home / 'central.db'}")
    me = f"cli:{os_user()}"
    assert actions(engine) == [
        ("development_authorized", "authorization:1", f"{me} (note: on behalf of 数据局)"),
        ("development_filed", "authorization:1", me), ("development_revoked", "authorization:1", me)]
