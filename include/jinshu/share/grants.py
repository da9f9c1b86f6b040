"""Requests and grants: a department asks for a dataset, the owning department decides.

Grain of ``exchange_requests``: one row per request (key ``id``). A request
names purpose, fields and duration; it is due in working days
(:mod:`jinshu.share.deadlines`). The owner approves (possibly fewer fields)
or refuses with a mandatory reason; an approved request is a grant until it
expires or is revoked, which takes effect at once. Every step is audited;
:func:`flag_overdue` (the ``exchange_deadlines`` DAG) escalates requests left
unanswered past their deadline.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.protect import leakguard
from jinshu.share import deadlines
from jinshu.share.decision import Caller, Grant, Refused
from jinshu.store.tables import exchange_requests, publications

MAX_DAYS = 366


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if len(value) < 2:
        raise Refused(400, f"{what}_required", f"a {what} is required: say in words why (no personal data)")
    if leakguard.scan(value):
        raise Refused(400, f"{what}_has_identifier",
                      f"the {what} carries a raw identifier; describe it without personal data")
    return value


def _published(conn: Connection, dataset_id: str) -> bool:
    return conn.execute(sa.select(publications.c.id).where(
        publications.c.channel == "exchange", publications.c.dataset_id == dataset_id).limit(1)
    ).first() is not None


def create(engine: Engine, contract: Contract, caller: Caller, purpose: str, fields: list[str],
           duration_days: int, linkable: bool, link: str | None, now: datetime,
           holidays: frozenset[date]) -> sa.Row:
    """Record a request; returns its row (with ``due_on``)."""
    if contract.sharing.class_ == "not_shared":
        raise Refused(403, "not_shared", f"{contract.id} is not shared ({contract.sharing.legal_basis}); "
                      "no request can open it")
    if caller.kind != "department":
        raise Refused(403, "departments_only", "only departments request data; developers read "
                      "unconditional datasets")
    if contract.department.code == caller.department:
        raise Refused(409, "own_dataset", f"{contract.id} is your own department's dataset")
    purpose = _text(purpose, "purpose")
    unknown = sorted(set(fields) - set(contract.field_names))
    if not fields or unknown:
        raise Refused(400, "unknown_field", f"name the fields you need (minimum necessary) from: "
                      f"{', '.join(contract.field_names)}" + (f"; unknown: {', '.join(unknown)}"
                                                               if unknown else ""))
    if not 1 <= duration_days <= MAX_DAYS:
        raise Refused(400, "bad_duration", f"duration_days must be 1 to {MAX_DAYS}")
    if linkable and not link:
        raise Refused(400, "link_required", "a linkable request names its link (the datasets to be "
                      "matched under one pseudonym), and its purpose says why")
    with engine.begin() as conn:
        review = deadlines.review_kind(contract.sharing.class_, _published(conn, contract.id))
        due = deadlines.due_on(now.astimezone(UTC).date(), review, holidays)
        request_id = conn.execute(exchange_requests.insert().values(
            dataset_id=contract.id, owner=contract.department.code, requester=caller.department,
            requested_by=caller.principal, purpose=purpose,
            fields=json.dumps([f for f in contract.field_names if f in fields]),
            duration_days=duration_days, linkable=linkable, link=link if linkable else None,
            review=review, status="pending", received_at=now, due_on=due)).inserted_primary_key[0]
        audit.append(conn, "exchange_requested", contract.id,
                     {"request": request_id, "requester": caller.department, "fields": fields,
                      "due_on": due.isoformat(), "linkable": linkable}, actor=caller.principal, now=now)
        return _row(conn, request_id)


def _row(conn: Connection, request_id: int) -> sa.Row:
    return conn.execute(sa.select(exchange_requests).where(exchange_requests.c.id == request_id)).one()


def _owned(conn: Connection, request_id: int, caller: Caller) -> sa.Row:
    row = conn.execute(sa.select(exchange_requests).where(exchange_requests.c.id == request_id)
                       .with_for_update()).first()
    if row is None:
        raise Refused(404, "no_such_request", f"no request #{request_id}: GET /v1/requests lists yours")
    if row.owner != caller.department:
        raise Refused(403, "not_the_owner", f"request #{request_id} is decided by {row.owner}, "
                      "the department that owns the dataset")
    return row


def approve(engine: Engine, request_id: int, caller: Caller, fields: list[str] | None,
            note: str | None, now: datetime) -> sa.Row:
    """The owner approves, possibly fewer fields than asked; the grant runs from now."""
    with engine.begin() as conn:
        row = _owned(conn, request_id, caller)
        _pending(row)
        asked = json.loads(row.fields)
        granted = asked if fields is None else [f for f in asked if f in set(fields)]
        extra = sorted(set(fields or ()) - set(asked))
        if extra or not granted:
            raise Refused(400, "fields_not_asked", f"approve a non-empty subset of what was asked "
                          f"({', '.join(asked)})" + (f"; not asked: {', '.join(extra)}" if extra else ""))
        expires = now + timedelta(days=row.duration_days)
        conn.execute(exchange_requests.update().where(exchange_requests.c.id == request_id).values(
            status="approved", decided_at=now, decided_by=caller.principal,
            reason=_text(note, "note") if note else None, granted_fields=json.dumps(granted),
            expires_at=expires))
        audit.append(conn, "exchange_approved", row.dataset_id,
                     {"request": request_id, "fields": granted, "expires_at": expires.isoformat()},
                     actor=caller.principal, now=now)
        return _row(conn, request_id)


def refuse(engine: Engine, request_id: int, caller: Caller, reason: str, now: datetime) -> sa.Row:
    """The owner refuses; the reason is mandatory and shown to the requester."""
    reason = _text(reason, "reason")
    with engine.begin() as conn:
        row = _owned(conn, request_id, caller)
        _pending(row)
        conn.execute(exchange_requests.update().where(exchange_requests.c.id == request_id).values(
            status="refused", decided_at=now, decided_by=caller.principal, reason=reason))
        audit.append(conn, "exchange_refused", row.dataset_id, {"request": request_id, "reason": reason},
                     actor=caller.principal, now=now)
        return _row(conn, request_id)


def revoke(engine: Engine, request_id: int, caller: Caller, reason: str, now: datetime) -> sa.Row:
    """The owner (or the holder) ends a grant at once."""
    reason = _text(reason, "reason")
    with engine.begin() as conn:
        row = conn.execute(sa.select(exchange_requests).where(exchange_requests.c.id == request_id)
                           .with_for_update()).first()
        if row is None or caller.department not in (row.owner, row.requester):
            raise Refused(404, "no_such_request", f"no grant #{request_id} of yours: GET /v1/requests")
        if row.status != "approved" or row.revoked_at is not None:
            raise Refused(409, "not_in_force", f"#{request_id} is not a grant in force")
        conn.execute(exchange_requests.update().where(exchange_requests.c.id == request_id).values(
            revoked_at=now, revoked_by=caller.principal, revoke_reason=reason))
        audit.append(conn, "exchange_revoked", row.dataset_id, {"request": request_id, "reason": reason},
                     actor=caller.principal, now=now)
        return _row(conn, request_id)


def _pending(row: sa.Row) -> None:
    if row.status != "pending":
        raise Refused(409, "already_decided", f"request #{row.id} was already {row.status}")


def listing(conn: Connection, department: str) -> list[sa.Row]:
    """Requests a department made or must decide, newest first."""
    r = exchange_requests.c
    return conn.execute(sa.select(exchange_requests).where(
        sa.or_(r.requester == department, r.owner == department)).order_by(r.id.desc())).all()


def as_grant(row: sa.Row) -> Grant:
    fields = row.granted_fields if row.status == "approved" else row.fields
    return Grant(row.id, row.dataset_id, row.requester, row.status, row.purpose,
                 frozenset(json.loads(fields)), _utc(row.expires_at), _utc(row.revoked_at),
                 row.linkable, row.link)


def grant_for(conn: Connection, grant_id: int | None, caller: Caller, dataset_id: str,
              now: datetime) -> Grant | None:
    """The grant named (any department's: the decision refuses another's), or else the caller's
    newest grant in force for the dataset, or None."""
    r = exchange_requests.c
    if grant_id is not None:
        row = conn.execute(sa.select(exchange_requests).where(r.id == grant_id)).first()
        if row is None:
            raise Refused(403, "no_such_grant", f"no grant #{grant_id}: GET /v1/requests lists yours")
        return as_grant(row)
    row = conn.execute(sa.select(exchange_requests).where(
        r.requester == caller.department, r.dataset_id == dataset_id, r.status == "approved",
        r.revoked_at.is_(None), r.expires_at > now).order_by(r.id.desc()).limit(1)).first()
    return as_grant(row) if row else None


def flag_overdue(engine: Engine, now: datetime, holidays: frozenset[date]) -> list[int]:
    """Escalate pending requests past their deadline (once each): audited, and shown by
    ``jinshu report exchange``. Returns the request ids flagged now."""
    r = exchange_requests.c
    today = now.astimezone(UTC).date()
    with engine.begin() as conn:
        rows = conn.execute(sa.select(exchange_requests).where(
            r.status == "pending", r.escalated_at.is_(None), r.due_on < today)).all()
        for row in rows:
            conn.execute(exchange_requests.update().where(r.id == row.id).values(escalated_at=now))
            audit.append(conn, "exchange_overdue", row.dataset_id,
                         {"request": row.id, "owner": row.owner, "due_on": str(row.due_on),
                          "working_days_late": _late(row.due_on, today, holidays)}, now=now)
    return [row.id for row in rows]


def _late(due: date, today: date, holidays: frozenset[date]) -> int:
    days, day = 0, due
    while day < today:
        day += timedelta(days=1)
        days += deadlines.is_working_day(day, holidays)
    return days


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
