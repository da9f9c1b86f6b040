"""Requests and grants: request, approve (fewer fields) or refuse with a reason, revoke, overdue."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from jinshu.share import grants
from jinshu.share.decision import Caller, Refused
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import audit_log, exchange_requests

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RENSHE = Caller("p_renshe", "sx_renshe", "department")
GONGAN = Caller("p_gongan", "sx_gongan", "department")
MINZHENG = Caller("p_minzheng", "sx_minzheng", "department")


@pytest.fixture
def engine(settings, contracts):
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    return engine


def ask(engine, contracts, fields=("id_number", "name", "address"), now=MONDAY, holidays=frozenset()):
    return grants.create(engine, contracts["household_registration"], RENSHE, "社保参保资格核验",
                         list(fields), 30, False, None, now, holidays)


def test_the_owner_approves_fewer_fields_and_the_grant_runs_for_its_duration(engine, contracts):
    request = ask(engine, contracts)
    assert request.status == "pending" and request.review == "publish_first"  # not on the exchange yet
    assert request.due_on == date(2026, 11, 16)  # 10 working days
    approved = grants.approve(engine, request.id, GONGAN, ["id_number", "name"], None,
                              MONDAY + timedelta(hours=1))
    assert json.loads(approved.granted_fields) == ["id_number", "name"]
    with engine.connect() as conn:
        grant = grants.grant_for(conn, None, RENSHE, "household_registration", MONDAY + timedelta(days=2))
        assert grant.fields == {"id_number", "name"} and grant.purpose == "社保参保资格核验"
        assert grants.grant_for(conn, None, RENSHE, "household_registration",
                                MONDAY + timedelta(days=31)) is None  # expired
        actions = conn.execute(sa.select(audit_log.c.action)).scalars().all()
    assert actions == ["exchange_requested", "exchange_approved"]


@pytest.mark.parametrize(("step", "code"), [
    (lambda e, r: grants.approve(e, r, RENSHE, None, None, MONDAY), "not_the_owner"),
    (lambda e, r: grants.approve(e, r, GONGAN, ["ethnicity"], None, MONDAY), "fields_not_asked"),
    (lambda e, r: grants.refuse(e, r, GONGAN, " ", MONDAY), "reason_required"),
    (lambda e, r: grants.refuse(e, r, GONGAN, "身份证 14010520010815068X 有误", MONDAY),
     "reason_has_identifier"),
    (lambda e, r: grants.revoke(e, r, GONGAN, "不再需要", MONDAY), "not_in_force"),
    (lambda e, r: grants.revoke(e, r, MINZHENG, "不再需要", MONDAY), "no_such_request"),
])
def test_decisions_out_of_turn_are_refused(engine, contracts, step, code):
    request = ask(engine, contracts)
    with pytest.raises(Refused) as refused:
        step(engine, request.id)
    assert refused.value.code == code


def test_a_refusal_keeps_its_reason_and_cannot_be_decided_again(engine, contracts):
    request = ask(engine, contracts)
    refused = grants.refuse(engine, request.id, GONGAN, "用途超出共享条件", MONDAY)
    assert (refused.status, refused.reason) == ("refused", "用途超出共享条件")
    with pytest.raises(Refused) as again:
        grants.approve(engine, request.id, GONGAN, None, None, MONDAY)
    assert again.value.status == 409


@pytest.mark.parametrize(("bad", "code"), [
    ({"fields": []}, "unknown_field"), ({"fields": ["nickname"]}, "unknown_field"),
    ({"purpose": ""}, "purpose_required"), ({"duration_days": 0}, "bad_duration"),
    ({"linkable": True}, "link_required")])
def test_a_request_must_name_purpose_fields_and_duration(engine, contracts, bad, code):
    args = {"purpose": "核验", "fields": ["name"], "duration_days": 30, "linkable": False} | bad
    with pytest.raises(Refused) as refused:
        grants.create(engine, contracts["household_registration"], RENSHE, args["purpose"],
                      args["fields"], args["duration_days"], args["linkable"], None, MONDAY, frozenset())
    assert refused.value.code == code


def test_overdue_requests_are_escalated_once_counting_working_days_and_holidays(engine, contracts):
    holidays = frozenset({date(2026, 11, 4)})
    request = ask(engine, contracts, holidays=holidays)
    assert request.due_on == date(2026, 11, 17)  # the holiday pushes it a day
    assert grants.flag_overdue(engine, datetime(2026, 11, 17, 23, tzinfo=UTC), holidays) == []
    assert grants.flag_overdue(engine, datetime(2026, 11, 18, 1, tzinfo=UTC), holidays) == [request.id]
    assert grants.flag_overdue(engine, datetime(2026, 11, 19, 1, tzinfo=UTC), holidays) == []
    with engine.connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "exchange_overdue")).one()
        assert json.loads(entry.details)["working_days_late"] == 1
        assert conn.execute(sa.select(exchange_requests.c.escalated_at)).scalar() is not None
