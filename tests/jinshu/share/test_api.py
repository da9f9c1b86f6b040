"""The exchange API against a running uvicorn server on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.govern import audit, incident
from jinshu.share import access_log, grants, stamp
from jinshu.share.decision import Caller
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.tables import exchange_access

ROOT = Path(__file__).resolve().parents[3]
CALLERS = {"renshe": Caller("p_t", "sx_renshe", "department"),
           "gongan": Caller("p_g", "sx_gongan", "department"),
           "minzheng": Caller("p_m", "sx_minzheng", "department"),
           "scjg": Caller("p_s", "sx_scjg", "department")}


def granted(server, who: str, dataset: str, fields: list[str], *, days: int = 30, now=None,
            link: str | None = None) -> int:
    """A grant approved by the owner through the service (the HTTP flow has its own test)."""
    engine = engine_for(server.settings.store_url)
    contract = server.contracts[dataset]
    owner = Caller("p_owner", contract.department.code, "department")
    now = now or datetime.now(UTC)
    row = grants.create(engine, contract, CALLERS[who], "资格核验", fields, days, link is not None,
                        link, now, frozenset())
    return grants.approve(engine, row.id, owner, None, None, now).id


def accesses(server) -> int:
    with engine_for(server.settings.store_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(exchange_access)).scalar()


@pytest.fixture(scope="module")
def refusal_setup(server):
    """Grants and an incident the refusal matrix needs."""
    other = granted(server, "minzheng", "household_registration", ["name"])
    stale = granted(server, "renshe", "minimum_living_allowance", ["name"], days=1,
                    now=datetime.now(UTC) - timedelta(days=3))
    cut = granted(server, "renshe", "enterprise_registration", ["legal_representative"])
    with server.client("renshe") as client:
        assert client.post(f"/v1/requests/{cut}/revoke", json={"reason": "不再需要"}).status_code == 200
    narrow = granted(server, "gongan", "minimum_living_allowance", ["name", "county_code"])
    engine = engine_for(server.settings.store_url)
    incident.open_incident(engine, open_store(server.settings.open_data_url), "vaccination_sites",
                           "核查发布内容", "test", datetime.now(UTC))
    return {"other": other, "stale": stale, "cut": cut, "narrow": narrow}


REFUSALS = [  # (who, path, params, status, error)
    (None, "household_registration", {}, 401, "unauthenticated"),
    ("bad", "household_registration", {}, 401, "unauthenticated"),
    ("expired", "enterprise_registration", {}, 401, "unauthenticated"),
    ("revoked", "enterprise_registration", {}, 401, "unauthenticated"),
    ("renshe", "household_registration", {}, 403, "grant_required"),
    ("renshe", "secret_registry", {}, 403, "not_shared"),
    ("developer", "household_registration", {}, 403, "developers_unconditional_only"),
    ("gongan", "minimum_living_allowance", {"fields": "name,allowance_yuan"}, 403, "field_outside_grant"),
    ("renshe", "household_registration", {"grant": "other"}, 403, "grant_of_another_department"),
    ("renshe", "minimum_living_allowance", {"grant": "stale"}, 403, "grant_expired"),
    ("renshe", "enterprise_registration", {"grant": "cut"}, 403, "grant_revoked"),
    ("renshe", "vaccination_sites", {}, 423, "suspended"),
    ("renshe", "social_insurance_enrollment", {}, 409, "not_published"),
    ("renshe", "enterprise_registration", {"cursor": "not-a-cursor"}, 400, "malformed_cursor"),
    ("renshe", "no_such_thing", {}, 404, "no_such_dataset"),
    ("renshe", "enterprise_registration", {"fields": "uscc,shoe_size"}, 400, "unknown_field"),
]


@pytest.mark.parametrize(("who", "dataset", "params", "status", "error"), REFUSALS,
                         ids=[r[4] + "-" + str(r[0]) for r in REFUSALS])
def test_refusal_matrix(server, refusal_setup, who, dataset, params, status, error):
    params = {k: refusal_setup.get(v, v) if k == "grant" else v for k, v in params.items()}
    before = accesses(server)
    with server.client(who if who != "bad" else None) as client:
        if who == "bad":
            client.headers["Authorization"] = "Bearer p_000000000000." + "A" * 43
        response = client.get(f"/v1/datasets/{dataset}/records", params=params)
    body = response.json()
    assert (response.status_code, body["error"]) == (status, error), body
    assert set(body) == {"error", "message"} and len(body["message"]) > 20  # says what to do
    assert "X-Jinshu-Version" not in response.headers
    assert accesses(server) == before  # nothing read, nothing recorded as read


def test_an_unconditional_read_pages_through_everything_masked_and_stamped(server):
    seen, cursor = [], None
    with server.client("renshe") as client:
        for _ in range(10):
            response = client.get("/v1/datasets/enterprise_registration/records",
                                  params={"limit": 5, **({"cursor": cursor} if cursor else {})})
            assert response.status_code == 200
            page = response.json()
            seen += page["rows"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert page["rows"] == [] and len(seen) == 15  # 15 rows: three full pages, then an empty one
    assert len({r["uscc"] for r in seen}) == 15
    assert all("*" in r["legal_representative"] for r in seen if r["legal_representative"])
    assert page["masked"] == ["legal_representative"] and page["grant"] is None
    assert response.headers["X-Jinshu-Version"] == page["version"]
    assert page["source_department"] == server.contracts["enterprise_registration"].department.name
    assert response.headers["X-Jinshu-Acquired-On"] == page["acquired_on"] == page["version"][:10]


def test_a_saved_page_verifies_and_a_restamped_forgery_is_refused(server, tmp_path, monkeypatch):
    with server.client("renshe") as client:
        body = client.get("/v1/datasets/enterprise_registration/records",
                          params={"limit": 5}).json()
    monkeypatch.setenv("JINSHU_HOME", str(server.settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", server.settings.store_url)
    saved = tmp_path / "page.json"
    saved.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    verify = CliRunner().invoke(app, ["provenance", "verify", str(saved)])
    assert verify.exit_code == 0, verify.output
    assert "access log" in verify.output
    forged = dict(body, rows=[dict(body["rows"][0], enterprise_name="伪造有限公司"), *body["rows"][1:]])
    forged["provenance"] = dict(body["provenance"], checksum=stamp.checksum(forged["rows"]))
    saved.write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
    refused = CliRunner().invoke(app, ["provenance", "verify", str(saved)])
    assert refused.exit_code == 1 and "never delivered" in refused.output
    assert "伪造" not in refused.output


def test_request_approve_read_revoke_then_refused_over_http(server):
    with server.client("scjg") as scjg, server.client("gongan") as gongan:
        asked = scjg.post("/v1/requests", json={
            "dataset": "household_registration", "purpose": "企业法人身份核验",
            "fields": ["id_number", "name", "address"], "duration_days": 10})
        assert asked.status_code == 201 and asked.json()["status"] == "pending"
        request_id = asked.json()["id"]
        assert scjg.get("/v1/datasets/household_registration/records").status_code == 403
        assert scjg.post(f"/v1/requests/{request_id}/approve", json={}).status_code == 403  # not owner
        approved = gongan.post(f"/v1/requests/{request_id}/approve", json={"fields": ["id_number", "name"]})
        assert approved.json()["granted_fields"] == ["id_number", "name"]
        page = scjg.get("/v1/datasets/household_registration/records", params={"limit": 50}).json()
        assert page["fields"] == ["id_number", "name"] and page["grant"] == request_id
        assert len(page["rows"]) == len(server.ids)
        assert all("*" in r["id_number"] and "*" not in r["name"] for r in page["rows"])
        assert not {r["id_number"] for r in page["rows"]} & set(server.ids)
        outside = scjg.get("/v1/datasets/household_registration/records", params={"fields": "address"})
        assert outside.status_code == 403 and outside.json()["error"] == "field_outside_grant"
        revoked = gongan.post(f"/v1/requests/{request_id}/revoke", json={"reason": "核验完成"})
        assert revoked.status_code == 200
        after = scjg.get("/v1/datasets/household_registration/records")
        assert after.status_code == 403 and after.json()["error"] == "grant_required"
        listed = {r["id"]: r for r in scjg.get("/v1/requests").json()}
        assert listed[request_id]["revoked_at"] and listed[request_id]["revoke_reason"] == "核验完成"


def test_a_refusal_needs_a_reason_and_the_requester_sees_it(server):
    with server.client("scjg") as scjg, server.client("minzheng") as minzheng:
        request_id = scjg.post("/v1/requests", json={
            "dataset": "minimum_living_allowance", "purpose": "企业招聘补贴核验", "fields": ["name"],
            "duration_days": 5}).json()["id"]
        empty = minzheng.post(f"/v1/requests/{request_id}/refuse", json={"reason": ""})
        assert empty.status_code == 400 and empty.json()["error"] == "reason_required"
        assert minzheng.post(f"/v1/requests/{request_id}/refuse",
                             json={"reason": "超出共享条件"}).status_code == 200
        mine = {r["id"]: r for r in scjg.get("/v1/requests").json()}
        assert (mine[request_id]["status"], mine[request_id]["reason"]) == ("refused", "超出共享条件")


def test_two_consumers_see_the_same_person_under_different_pseudonyms_unless_linked(server):
    person = server.ids[0]
    granted(server, "renshe", "household_registration", ["name"])
    granted(server, "scjg", "household_registration", ["name", "address"], link="法人低保联审")
    granted(server, "scjg", "minimum_living_allowance", ["name", "allowance_yuan"], link="法人低保联审")

    def subject(who: str, dataset: str) -> str:
        with server.client(who) as client:
            response = client.post(f"/v1/datasets/{dataset}/lookup", json={"id_number": person})
        assert response.status_code == 200, response.json()
        [row] = response.json()["rows"]
        return row["_subject"]

    renshe, scjg = subject("renshe", "household_registration"), subject("scjg", "household_registration")
    assert renshe != scjg and person not in (renshe, scjg)
    assert subject("scjg", "minimum_living_allowance") == scjg  # one link, one pseudonym


def test_every_read_is_in_the_audit_log_and_in_the_subjects_access_report(server):
    person = server.ids[1]
    granted(server, "gongan", "minimum_living_allowance", ["name"])
    before = accesses(server)
    with server.client("gongan") as gongan:
        assert gongan.get("/v1/datasets/minimum_living_allowance/records",
                          params={"limit": 100}).status_code == 200
        assert gongan.post("/v1/datasets/minimum_living_allowance/lookup",
                           json={"id_number": person}).status_code == 200
    engine = engine_for(server.settings.store_url)
    with engine.connect() as conn:
        assert accesses(server) == before + 2
        rows = conn.execute(sa.select(exchange_access).order_by(exchange_access.c.id.desc()).limit(2)).all()
        assert {r.department for r in rows} == {"sx_gongan"}
        assert {r.kind for r in rows} == {"page", "lookup"} and all(r.grant_id for r in rows)
        assert all(access_log.verify_batch(conn, r.audit_seq) for r in rows)
        assert audit.verify(conn).intact
        key = server.service.protector.pseudonyms.one(person)
        report = access_log.subject_report(conn, key, server.contracts)
    mine = [r for r in report
            if r["department"] == "sx_gongan" and r["dataset_id"] == "minimum_living_allowance"]
    assert {r["kind"] for r in mine} == {"page", "lookup"}
    assert all(r["purpose"] == "资格核验" and r["grant_id"] for r in mine)


def test_a_changed_access_record_breaks_its_batch_digest(server):
    with server.client("renshe") as client:
        assert client.get("/v1/datasets/enterprise_registration/records").status_code == 200
    engine = engine_for(server.settings.store_url)
    with engine.begin() as conn:
        row = conn.execute(sa.select(exchange_access).order_by(exchange_access.c.id.desc())).first()
        conn.execute(exchange_access.update().where(exchange_access.c.id == row.id).values(rows=0))
        assert not access_log.verify_batch(conn, row.audit_seq)
        conn.execute(exchange_access.update().where(exchange_access.c.id == row.id).values(rows=row.rows))
        assert access_log.verify_batch(conn, row.audit_seq)


def test_the_catalog_shows_what_the_caller_may_read_and_how_to_ask(server):
    with server.client("renshe") as client:
        catalog = {d["id"]: d for d in client.get("/v1/catalog").json()}
    assert catalog["enterprise_registration"]["access"] == "readable"
    assert catalog["social_insurance_enrollment"]["access"] == "grant_required"
    assert "/v1/requests" in catalog["social_insurance_enrollment"]["how"]
    assert catalog["secret_registry"]["legal_basis"] == "某条例 第十条"
    with server.client(None) as anonymous:
        assert anonymous.get("/v1/catalog").status_code == 401


def test_the_committed_openapi_spec_matches_the_app():
    from jinshu.share.api import create_app

    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == create_app().openapi(), "docs/openapi.json drifted: run make openapi"


def test_the_airflow_plugin_mounts_the_exchange_and_refuses_anonymous_calls(tmp_path, monkeypatch):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))  # its own store, on SQLite
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    import importlib.util

    from fastapi.testclient import TestClient

    spec = importlib.util.spec_from_file_location("jinshu_plugin", ROOT / "plugins" / "jinshu_plugin.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    apps = {a["url_prefix"]: a["app"] for a in plugin.JinshuPlugin.fastapi_apps}
    assert set(apps) == {"/jinshu/exchange", "/jinshu/governance"}
    with TestClient(apps["/jinshu/governance"]) as client:  # Airflow's own check, before any page
        assert client.post("/exchange/1/approve", data={"csrf": "x"}).status_code == 401
        assert client.post("/incidents/open").status_code == 401
    with TestClient(apps["/jinshu/exchange"]) as client:  # fails before the store is touched
        for method, path in [("get", "/v1/catalog"), ("get", "/v1/requests"),
                             ("get", "/v1/datasets/household_registration/records"),
                             ("post", "/v1/requests/1/revoke")]:
            response = (client.post(path, json={"reason": "不再需要"}) if method == "post"
                        else client.get(path))
            assert response.status_code == 401 and response.json()["error"] == "unauthenticated", path


def test_the_citizens_access_report_lists_who_read_them_when_why_and_under_which_grant(
        server, monkeypatch):
    from typer.testing import CliRunner

    from jinshu.cli import app

    person = server.ids[2]
    grant = granted(server, "renshe", "household_registration", ["name", "county_code"])
    with server.client("renshe") as client:
        assert client.post("/v1/datasets/household_registration/lookup",
                           json={"id_number": person, "grant": grant}).status_code == 200
    monkeypatch.setenv("JINSHU_HOME", str(server.settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", server.settings.store_url)
    result = CliRunner().invoke(app, ["report", "access", "--subject", person.lower(), "--json"])
    assert result.exit_code == 0, result.output
    reads = json.loads(result.output)["reads"]
    mine = [r for r in reads if r["grant_id"] == grant]
    assert [(r["department"], r["kind"], r["purpose"]) for r in mine] == [
        ("sx_renshe", "lookup", "资格核验")]
    assert person not in result.output
    text = CliRunner().invoke(app, ["report", "access", "--subject", person])
    assert "sx_renshe" in text.output and f"#{grant}" in text.output
    nobody = CliRunner().invoke(app, ["report", "access", "--subject", "140105199803071232"])
    assert "no department has read" in nobody.output


def test_sanjintong_prefills_an_application_from_the_exchange_instead_of_asking_again(server):
    from jinshu.dev.sanjintong import ALLOWANCE, HOUSEHOLD, SanJinTong
    from jinshu.share import principals

    engine = engine_for(server.settings.store_url)
    token = principals.issue(engine, "三晋通", "sx_zhengwu", "department", 30, "ops",
                             datetime.now(UTC)).token
    app = SanJinTong(server.url, token)
    with_allowance, without = server.ids[0], server.ids[-1]  # the first half receive 低保
    assert app.prefill(with_allowance).still_to_ask == ["name", "household_address",
                                                        "allowance_status"]  # no grant yet
    household_request, allowance_request = app.request_grants()
    with server.client("gongan") as gongan, server.client("minzheng") as minzheng:
        assert gongan.post(f"/v1/requests/{household_request}/approve", json={}).status_code == 200
        assert minzheng.post(f"/v1/requests/{allowance_request}/approve", json={}).status_code == 200
    form = app.prefill(with_allowance)
    from tests.helpers import stored_records

    [held] = [r for r in stored_records(server.settings, server.contracts[HOUSEHOLD])
              if r.id_number == with_allowance]  # what the registry holds, in the clear
    assert form.still_to_ask == [] and form.receives_allowance is True
    assert (form.name, form.household_address) == (held.name, held.address)
    assert form.allowance_yuan is not None
    assert [s["dataset"] for s in form.sources] == [HOUSEHOLD, ALLOWANCE]
    assert all(s["grant"] and s["version"] for s in form.sources)
    other = app.prefill(without)
    assert other.receives_allowance is False and other.household_address


def test_an_unparsable_body_is_refused_in_the_documented_error_shape(server):
    with server.client("renshe") as client:
        response = client.post("/v1/datasets/household_registration/lookup", content=b"m\xffQ",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"} and response.json()["error"] == "http_400"


def test_a_malformed_request_is_refused_without_echoing_its_input(server):
    person = "140105199803071232"
    with server.client("renshe") as client:
        response = client.post("/v1/datasets/household_registration/lookup",
                               json={"idnumber": person})  # the key misspelled
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request" and "Fix:" in body["message"]
    assert person not in response.text and "input" not in json.dumps(body["detail"])
