"""Authorized development through the running exchange (uvicorn, PostgreSQL): a developer reads
only under a complete, filed, unexpired authorization; refusals audited; extracts stamped."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
import pytest
import sqlalchemy as sa

from jinshu.govern import audit
from jinshu.share import development, principals, stamp
from jinshu.store.engine import engine_for
from jinshu.store.tables import audit_log, exchange_access
from tests.jinshu.share.test_development import uscc

DATASET = "enterprise_registration"


def engine_of(server):
    return engine_for(server.settings.store_url)


def developer(server, serial: int) -> httpx.Client:
    """A client holding a fresh developer credential of organization ``serial``."""
    token = principals.issue(engine_of(server), f"开发组{serial}", "sx_renshe", "developer", 30,
                             "test", datetime.now(UTC), uscc=uscc(serial)).token
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def authorize(server, serial: int, *, agreement: bool = True, filing: bool = True,
              ended: bool = False, datasets=(DATASET,)) -> int:
    """Register an authorization for organization ``serial``; ``ended``: its term ended
    yesterday (registered, agreed and filed a year ago)."""
    now = datetime.now(UTC) - timedelta(days=365 if ended else 0)
    expires = (datetime.now(UTC) - timedelta(days=2)).date() if ended else now.date() + timedelta(90)
    engine = engine_of(server)
    new_id = development.register(
        engine, server.contracts, organization=f"晋数开发者{serial}号有限公司", uscc=uscc(serial),
        datasets=list(datasets), purpose="企业信用产品研发", expires_on=expires, actor="ops", now=now,
        agreement_no=f"晋数协〔2026〕{serial}号" if agreement else None,
        agreement_on=now.date() if agreement else None)
    if filing:
        development.file(engine, new_id, f"晋数备〔2026〕{serial}号", now.date(), "ops", now)
    return new_id


def accesses(server) -> int:
    with engine_of(server).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(exchange_access)).scalar()


def last_entry(server, action: str) -> sa.Row:
    with engine_of(server).connect() as conn:
        return conn.execute(sa.select(audit_log).where(audit_log.c.action == action)
                            .order_by(audit_log.c.seq.desc()).limit(1)).one()


CASES = [  # serial, the authorization, the refusal, what is missing
    (11, {"filing": False}, "authorization_incomplete", ["filing"]),
    (12, {"agreement": False}, "authorization_incomplete", ["agreement"]),
    (13, {"ended": True}, "authorization_expired", ["expiry"]),
    (14, {"datasets": ("vaccination_sites",)}, "authorization_required", []),
]


@pytest.mark.parametrize(("serial", "held", "code", "missing"), CASES,
                         ids=["without_filing", "without_agreement", "expired", "other_dataset"])
@pytest.mark.parametrize("path", ["records", "lookup"])
def test_a_developer_without_a_complete_filed_unexpired_authorization_is_refused_and_audited(
        server, serial, held, code, missing, path):
    serial += 10 if path == "lookup" else 0
    authorization = authorize(server, serial, **held)
    before = accesses(server)
    with developer(server, serial) as client:
        response = (client.get(f"/v1/datasets/{DATASET}/records") if path == "records" else
                    client.post(f"/v1/datasets/{DATASET}/lookup", json={"id_number": uscc(1)}))
        catalog = {d["id"]: d for d in client.get("/v1/catalog").json()}
    body = response.json()
    assert (response.status_code, body["error"], set(body)) == (403, code, {"error", "message"})
    if missing:
        assert f"authorization #{authorization} for {DATASET} cannot be used, missing: " \
               f"{', '.join(missing)};" in body["message"]
    assert "Fix: " in body["message"]
    for value in (f"晋数协〔2026〕{serial}号", f"晋数备〔2026〕{serial}号", uscc(serial)):
        assert value not in response.text  # what is missing, never a value held
    assert "X-Jinshu-Checksum" not in response.headers and accesses(server) == before
    assert catalog[DATASET]["access"] == code
    entry = last_entry(server, "development_refused")
    assert (entry.subject, entry.actor[:2]) == (DATASET, "p_")
    assert json.loads(entry.details) == {
        "principal": entry.actor, "organization": uscc(serial), "refusal": code,
        "authorization": authorization if missing else None, "missing": missing}


def test_an_authorized_developer_gets_a_stamped_extract_whose_checksum_verifies(server):
    authorization = authorize(server, 21)
    with developer(server, 21) as client:
        response = client.get(f"/v1/datasets/{DATASET}/records", params={"limit": 100})
        catalog = {d["id"]: d for d in client.get("/v1/catalog").json()}
    assert catalog[DATASET]["access"] == "readable"
    assert catalog["vaccination_sites"]["access"] == "authorization_required"
    assert response.status_code == 200, response.json()
    page = response.json()
    stamped = page["provenance"]
    rows = json.dumps(page["rows"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stamped["checksum"] == "sha256:" + hashlib.sha256(rows.encode()).hexdigest()
    assert response.headers["X-Jinshu-Checksum"] == stamped["checksum"]
    assert stamp.verify(page) == []
    contract = server.contracts[DATASET]
    with engine_of(server).connect() as conn:
        batches = conn.execute(sa.text(f"SELECT _batch_id, max(_acquired_at) AS acquired, count(*) "
                                       f"FROM {contract.table} GROUP BY _batch_id")).all()
    [(batch, acquired, count)] = batches
    assert {k: stamped[k] for k in ("source_dataset", "source_department", "source_department_code",
                                    "version", "source_batches", "rows")} == {
        "source_dataset": DATASET, "source_department": contract.department.name,
        "source_department_code": contract.department.code, "version": page["version"],
        "source_batches": [batch], "rows": count}
    assert datetime.fromisoformat(stamped["acquired_at"]) == acquired  # from the source batch
    today = datetime.now(UTC).date()
    assert stamped["authorization"] == {
        "id": authorization, "agreement_no": "晋数协〔2026〕21号", "agreement_on": today.isoformat(),
        "filing_no": "晋数备〔2026〕21号", "filed_on": today.isoformat(),
        "expires_on": (today + timedelta(90)).isoformat()}
    assert (response.headers["X-Jinshu-Authorization"], unquote(response.headers["X-Jinshu-Agreement-No"]),
            unquote(response.headers["X-Jinshu-Filing-No"])) == (str(authorization), "晋数协〔2026〕21号",
                                                                 "晋数备〔2026〕21号")
    edited = json.loads(response.text)
    edited["rows"][0]["enterprise_name"] = "改过的名称"
    assert stamp.verify(edited) == ["checksum: the rows are not the ones delivered (edited, added or "
                                    "removed)"]
    with engine_of(server).connect() as conn:
        read = conn.execute(sa.select(exchange_access).order_by(exchange_access.c.id.desc())).first()
        assert audit.verify(conn).intact
    assert read.purpose == f"开发利用授权 #{authorization}: 企业信用产品研发" and read.rows == count


def test_revocation_takes_effect_at_once(server):
    authorization = authorize(server, 31)
    with developer(server, 31) as client:
        assert client.get(f"/v1/datasets/{DATASET}/records").status_code == 200
        development.revoke(engine_of(server), authorization, "协议终止", "ops", datetime.now(UTC))
        after = client.get(f"/v1/datasets/{DATASET}/records")
    assert (after.status_code, after.json()["error"]) == (403, "authorization_revoked")
    assert f"authorization #{authorization} for {DATASET} was revoked" in after.json()["message"]
    assert json.loads(last_entry(server, "development_revoked").details) == {"reason": "协议终止"}
    assert json.loads(last_entry(server, "development_refused").details)["authorization"] == authorization


def test_a_developer_sees_its_own_pseudonyms_not_its_departments(server):
    authorize(server, 41)
    with developer(server, 41) as dev, server.client("renshe") as renshe:
        mine = dev.get(f"/v1/datasets/{DATASET}/records").json()["rows"]
        theirs = renshe.get(f"/v1/datasets/{DATASET}/records").json()
    assert [r["uscc"] for r in mine] == [r["uscc"] for r in theirs["rows"]]  # the same records
    assert not {r["_subject"] for r in mine} & {r["_subject"] for r in theirs["rows"]}
    assert theirs["provenance"]["authorization"] is None and stamp.verify(theirs) == []


def test_an_expired_authorization_beside_a_usable_one_does_not_block(server):
    authorize(server, 51, ended=True)
    usable = authorize(server, 51)
    with developer(server, 51) as client:
        response = client.get(f"/v1/datasets/{DATASET}/records")
    assert response.status_code == 200 and response.json()["provenance"]["authorization"]["id"] == usable
