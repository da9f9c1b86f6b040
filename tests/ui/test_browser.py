"""The governance pages in a real browser, behind Airflow's login, with the network cut off.

One api-server and one Chromium for the module (see ``conftest.py``). Every page: loads with
no failed request and nothing fetched from outside, passes axe-core's WCAG 2 A/AA rules
(labels, contrast, names), starts with a keyboard skip link, and is kept as a screenshot in
``test-artifacts/``. Figures are checked against the store; an approval clicked in the exchange
page is found in the audit log.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
import sqlalchemy as sa

from jinshu.store.tables import (
    audit_log,
    batches,
    exchange_requests,
    incidents,
    quarantine,
    scope_violations,
)
from jinshu.ui import registry
from jinshu.ui.airflow_auth import csrf_token
from tests.ui.conftest import ARTIFACTS, ROOT, open_session

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.slow]  # the shared Airflow DB's worker
AXE = (ROOT / "tests" / "vendor" / "axe.min.js").read_text(encoding="utf-8")
GOV = "/jinshu/governance"


def _axe(page) -> list[dict]:
    page.add_script_tag(content=AXE)
    return page.evaluate("""async () => {
        const only = {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']};
        const r = await axe.run(document, {runOnly: only});
        return r.violations.map(v => ({id: v.id, impact: v.impact,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")


def _figures(page) -> dict[str, str]:
    return {el.get_attribute("data-figure"): el.inner_text().strip()
            for el in page.locator("[data-figure]").all()}


def _int(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def admin(browser, airflow):
    context, traffic = open_session(browser, airflow, "admin")
    yield context.new_page(), traffic
    context.close()


def test_anonymous_visitors_are_sent_to_airflow_login(browser, airflow):
    context, _ = open_session(browser, airflow, None)
    response = context.request.get(f"{airflow.base}{GOV}/cockpit", max_redirects=0)
    assert response.status == 303 and "/auth/login" in response.headers["location"]
    assert context.request.get(f"{airflow.base}{GOV}/quality/docs/index.html",
                               max_redirects=0).status in (303, 401)
    assert context.request.post(f"{airflow.base}{GOV}/exchange/1/approve", max_redirects=0).status == 401
    context.close()


@pytest.mark.parametrize("slug", [p.slug for p in registry.pages()])
def test_each_page_loads_offline_accessible_and_keyboard_first(admin, airflow, slug):
    page, traffic = admin
    traffic.clear()
    response = page.goto(f"{airflow.base}{GOV}/{slug}")
    page.wait_for_load_state("networkidle")
    assert response.status == 200
    assert traffic.failed == [] and traffic.blocked == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
    if slug == "cockpit" and os.environ.get("JINSHU_README_SCREENSHOT"):
        shutil.copyfile(ARTIFACTS / "cockpit.png", ROOT / "docs" / "img" / "cockpit.png")
    assert _axe(page) == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"


def test_cockpit_figures_match_the_store(admin, airflow):
    page, _ = admin
    page.goto(f"{airflow.base}{GOV}/cockpit")
    shown = _figures(page)
    not_consent = batches.c.dataset_id != "consent"
    with airflow.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.sum(batches.c.stored)).where(not_consent)).scalar_one()
        files = conn.execute(sa.select(sa.func.count()).where(not_consent)).scalar_one()
        pending = conn.execute(sa.select(sa.func.count()).where(exchange_requests.c.status == "pending")
                               ).scalar_one()
        scope = conn.execute(sa.select(sa.func.count()).select_from(scope_violations)).scalar_one()
        open_ = conn.execute(sa.select(sa.func.count()).where(incidents.c.closed_at.is_(None))).scalar_one()
    assert stored > 0 and files > 0 and pending >= 1 and scope >= 1
    assert (_int(shown["rows_stored"]), _int(shown["batches"]), _int(shown["requests_pending"]),
            _int(shown["scope_violations"]), _int(shown["open_incidents"])) == (stored, files, pending,
                                                                                scope, open_)
    assert _int(shown["datasets"]) == 5


def test_ledger_drill_down_names_row_and_rule_never_a_value(admin, airflow):
    page, traffic = admin
    with airflow.engine.connect() as conn:
        batch = conn.execute(sa.select(batches.c.batch_id).where(batches.c.quarantined > 0)
                             .order_by(batches.c.batch_id).limit(1)).scalar_one()
        originals = conn.execute(sa.select(quarantine.c.original).where(quarantine.c.batch_id == batch)
                                 ).scalars().all()
    reasons = len(originals)
    traffic.clear()
    page.goto(f"{airflow.base}{GOV}/ledger")
    page.click(f'tr[data-batch="{batch}"] a')
    page.wait_for_url(re.compile(f"{GOV}/ledger/"))
    assert _int(_figures(page)["reasons"]) == reasons > 0
    assert page.locator("[data-reason-row]").count() == reasons
    html = page.content()
    for original in originals:  # the sealed originals never reach the page
        assert original and original not in html
    assert traffic.failed == [] and _axe(page) == []


def test_an_approval_clicked_in_the_exchange_page_is_in_the_audit_log(browser, airflow):
    context, traffic = open_session(browser, airflow, "sx_minzheng")
    page = context.new_page()
    page.goto(f"{airflow.base}{GOV}/exchange")
    with airflow.engine.connect() as conn:
        r = exchange_requests.c
        mine = conn.execute(sa.select(r.id).where(r.owner == "sx_minzheng", r.status == "pending")
                            ).scalars().all()
    assert len(mine) == 1 and _int(_figures(page)["mine"]) == 1
    request_id = mine[0]
    page.focus(f"#note-{request_id}")
    page.keyboard.type("核验用途明确")
    page.keyboard.press("Tab")  # to the approve button, by keyboard
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"done=approved"))
    assert page.locator(".notice").inner_text().startswith(f"已批准申请 #{request_id}")
    with airflow.engine.connect() as conn:
        row = conn.execute(sa.select(exchange_requests).where(exchange_requests.c.id == request_id)).one()
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "exchange_approved")
                             .order_by(audit_log.c.seq.desc()).limit(1)).one()
    assert (row.status, row.decided_by) == ("approved", "ui:sx_minzheng")
    assert entry.actor == "ui:sx_minzheng" and json.loads(entry.details)["request"] == request_id
    page.goto(f"{airflow.base}{GOV}/audit?action=exchange_approved&actor=ui%3Asx_minzheng")
    assert page.locator(f'tr[data-seq="{entry.seq}"]').count() == 1
    assert page.locator("[data-chain]").get_attribute("data-chain") == "intact"
    assert traffic.failed == [] and traffic.blocked == []
    context.close()


def test_a_department_sees_its_own_queue_and_a_viewer_cannot_decide(browser, airflow):
    context, _ = open_session(browser, airflow, "sx_gongan")  # role viewer, department sx_gongan
    page = context.new_page()
    page.goto(f"{airflow.base}{GOV}/exchange")
    with airflow.engine.connect() as conn:
        rows = conn.execute(sa.select(exchange_requests)).all()
    own = {r.id for r in rows if "sx_gongan" in (r.owner, r.requester)}
    listed = {int(x.get_attribute("data-decided")) for x in page.locator("[data-decided]").all()}
    assert listed == own and own != {r.id for r in rows}
    assert page.locator("form").count() == 0
    token = airflow.token("sx_gongan")
    pending = next(r.id for r in rows if r.owner == "sx_gongan") if own else 1
    answer = context.request.post(f"{airflow.base}{GOV}/exchange/{pending}/approve",
                                  form={"csrf": csrf_token(token)},
                                  headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 403
    context.close()


def test_data_docs_index_shows_its_rows_offline(admin, airflow):
    page, traffic = admin
    traffic.clear()
    page.goto(f"{airflow.base}{GOV}/quality/docs/index.html")
    page.wait_for_load_state("networkidle")
    rows = page.locator("table tbody tr")
    rows.first.wait_for(timeout=10_000)
    with airflow.engine.connect() as conn:
        validated = conn.execute(sa.text("SELECT count(DISTINCT batch_id) FROM quality_results")).scalar_one()
    assert rows.count() >= min(validated, 1) and "No matching records" not in page.content()
    assert page.evaluate("typeof jQuery.fn.bootstrapTable") == "function"
    assert traffic.failed == [] and traffic.blocked == []
    page.screenshot(path=str(ARTIFACTS / "data-docs.png"), full_page=True)


def test_the_pages_sit_in_airflow_navigation_and_open_in_its_frame(admin, airflow):
    page, traffic = admin
    traffic.clear()
    page.goto(f"{airflow.base}/plugin/jinshu-cockpit")
    frame = page.frame_locator("iframe")
    frame.locator('[data-figure="rows_stored"]').wait_for(timeout=60_000)
    assert traffic.blocked == []
    page.screenshot(path=str(ARTIFACTS / "airflow-frame.png"))
