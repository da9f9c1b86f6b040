"""The registry of developer authorizations (开发利用授权): register, agree, file, revoke, report.

Grain of ``developer_authorizations``: one row per authorization (key ``id``) of
one developer organization (name and USCC, checked) to develop some datasets
for a purpose, under a written agreement (number and date), filed (备案: number
and date), until ``expires_on``. An authorization may be registered before its
agreement or filing is recorded; it is usable only once complete, filed and
unexpired (:mod:`jinshu.share.authorization`). Revocation takes effect at once.
Every change, and every read the exchange refuses for want of an authorization,
is audited (docs/regulation.md#authorized-development).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.govern.report import run_sql, text_table
from jinshu.share import authorization as rules
from jinshu.share.authorization import Authorization, NotAuthorized, RegistrationError
from jinshu.store.tables import developer_authorizations as table

EXPIRING_DAYS = 30


def as_authorization(row: sa.Row) -> Authorization:
    return Authorization(row.id, row.organization, row.uscc, frozenset(json.loads(row.datasets)),
                         row.purpose, row.agreement_no, _date(row.agreement_on), row.filing_no,
                         _date(row.filed_on), _date(row.expires_on), row.revoked_at)


def _date(value: date | str | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def register(engine: Engine, contracts: dict[str, Contract], *, organization: str, uscc: str,
             datasets: list[str], purpose: str, expires_on: date, actor: str, now: datetime,
             agreement_no: str | None = None, agreement_on: date | None = None) -> int:
    """Record an authorization (its agreement now or later, its filing later); returns its id."""
    on = rules.today(now)
    values = {"organization": rules.text(organization, "organization", 200),
              "uscc": rules.valid_uscc(uscc),
              "datasets": json.dumps(rules.datasets(datasets, contracts)),
              "purpose": rules.text(purpose, "purpose")}
    if agreement_no or agreement_on:
        values["agreement_no"], values["agreement_on"] = rules.dated(agreement_no, agreement_on,
                                                                     "agreement", on)
    if expires_on <= on:
        raise RegistrationError("field expires_on: the term has already ended. Fix: give the last "
                                "day of the agreement's term, after today")
    with engine.begin() as conn:
        new_id = conn.execute(table.insert().values(
            **values, expires_on=expires_on, registered_at=now, registered_by=actor)
        ).inserted_primary_key[0]
        audit.append(conn, "development_authorized", f"authorization:{new_id}",
                     {"uscc": values["uscc"], "datasets": json.loads(values["datasets"]),
                      "expires_on": expires_on.isoformat(),
                      "agreement_no": values.get("agreement_no")}, actor=actor, now=now)
    return new_id


def _open(conn: Connection, authorization_id: int) -> sa.Row:
    """The authorization, locked for the change; refused when unknown or revoked."""
    row = conn.execute(sa.select(table).where(table.c.id == authorization_id)
                       .with_for_update()).first()
    if row is None:
        raise RegistrationError(f"no authorization #{authorization_id}. Fix: see jinshu developers "
                                "list")
    if row.revoked_at is not None:
        raise RegistrationError(f"authorization #{authorization_id} was revoked. Fix: register a "
                                "new one (jinshu developers add)")
    return row


def record_agreement(engine: Engine, authorization_id: int, number: str, signed_on: date,
                     actor: str, now: datetime) -> None:
    """The written agreement of an authorization registered without it."""
    with engine.begin() as conn:
        row = _open(conn, authorization_id)
        if row.agreement_no:
            raise RegistrationError(f"authorization #{authorization_id} already has its agreement. "
                                    "Fix: a new agreement is a new authorization (jinshu developers "
                                    "add), then revoke this one")
        number, signed_on = rules.dated(number, signed_on, "agreement", rules.today(now))
        conn.execute(table.update().where(table.c.id == authorization_id)
                     .values(agreement_no=number, agreement_on=signed_on))
        audit.append(conn, "development_agreement", f"authorization:{authorization_id}",
                     {"agreement_no": number, "agreement_on": signed_on.isoformat()},
                     actor=actor, now=now)


def file(engine: Engine, authorization_id: int, number: str, filed_on: date, actor: str,
         now: datetime) -> None:
    """Record the filing (备案) of an authorization with the information management department."""
    with engine.begin() as conn:
        row = _open(conn, authorization_id)
        if row.filing_no:
            raise RegistrationError(f"authorization #{authorization_id} is already filed. Fix: "
                                    "nothing to do (jinshu developers list shows it)")
        number, filed_on = rules.dated(number, filed_on, "filing", rules.today(now))
        conn.execute(table.update().where(table.c.id == authorization_id)
                     .values(filing_no=number, filed_on=filed_on))
        audit.append(conn, "development_filed", f"authorization:{authorization_id}",
                     {"filing_no": number, "filed_on": filed_on.isoformat()}, actor=actor, now=now)


def revoke(engine: Engine, authorization_id: int, reason: str, actor: str, now: datetime) -> None:
    """End an authorization at once: the developer's next read under it is refused."""
    with engine.begin() as conn:
        _open(conn, authorization_id)
        reason = rules.text(reason, "reason")
        conn.execute(table.update().where(table.c.id == authorization_id)
                     .values(revoked_at=now, revoked_by=actor, revoke_reason=reason))
        audit.append(conn, "development_revoked", f"authorization:{authorization_id}",
                     {"reason": reason}, actor=actor, now=now)


def get(conn: Connection, authorization_id: int) -> Authorization:
    return as_authorization(conn.execute(sa.select(table).where(table.c.id == authorization_id))
                            .one())


def held_by(conn: Connection, uscc: str | None) -> list[Authorization]:
    """The authorizations of one organization (none for a credential without one)."""
    if not uscc:
        return []
    return [as_authorization(r) for r in conn.execute(sa.select(table).where(table.c.uscc == uscc))]


def record_refusal(engine: Engine, refused: NotAuthorized, now: datetime) -> None:
    """Audit a read the exchange refused to a developer (who, which dataset, what was missing)."""
    with engine.begin() as conn:
        audit.append(conn, "development_refused", refused.dataset_id, refused.details(),
                     actor=refused.caller.principal, now=now)


def report(conn: Connection, now: datetime, within_days: int = EXPIRING_DAYS) -> dict[str, list]:
    """Every authorization with its status, and the three lists to act on: filings missing,
    terms ending within ``within_days``, terms ended (revoked ones are in the first only)."""
    on = rules.today(now)
    rows = run_sql(conn, "development.sql", today=on, until=on + timedelta(days=within_days))
    for row in rows:
        row["datasets"] = json.loads(row["datasets"])
        row["days_left"] = (date.fromisoformat(row["expires_on"]) - on).days
        for flag in ("missing_agreement", "missing_filing", "expiring"):
            row[flag] = bool(row[flag])
    live = [r for r in rows if r["status"] != "revoked"]
    return {"as_of": on.isoformat(), "within_days": within_days, "authorizations": rows,
            "missing_filings": [r for r in live if r["missing_filing"]],
            "expiring": [r for r in live if r["expiring"]],
            "expired": [r for r in live if r["status"] == "expired"]}


def as_text(rows: list[dict]) -> str:
    """Authorizations (rows of :func:`report`) as a text table; what is missing says MISSING."""
    return text_table(
        ["#", "organization", "uscc", "datasets", "status", "agreement", "filing", "expires",
         "days left"],
        [[str(r["id"]), r["organization"], r["uscc"], ",".join(r["datasets"]), r["status"],
          r["agreement_no"] or "MISSING", r["filing_no"] or "MISSING", r["expires_on"],
          str(r["days_left"])] for r in rows])


def render(found: dict) -> str:
    """The development report as text tables for a terminal."""

    sections = [("authorizations", "developer authorizations (开发利用授权)"),
                ("missing_filings", "filing (备案) missing: not usable until filed"),
                ("expiring", f"terms ending within {found['within_days']} days"),
                ("expired", "terms ended: not usable; renew or revoke")]
    parts = [f"as of {found['as_of']} (China)"]
    for key, title in sections:
        parts += ["", f"{title}:", as_text(found[key]) if found[key] else "  none"]
    return "\n".join(parts)
