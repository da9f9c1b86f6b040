"""The governance pages' registry, query functions and safety nets, on SQLite and PostgreSQL
(the pages in a real browser behind Airflow: tests/ui)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jinshu.dev.generate import generate_extract
from jinshu.govern.scorecard import offline
from jinshu.open import publisher, site
from jinshu.protect.leakguard import LeakFound
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import repeat_findings
from jinshu.ui import registry
from jinshu.ui.pages import cockpit, ledger, opendata, repeat
from jinshu.ui.render import TEMPLATES, render
from jinshu.ui.view import View, Viewer
from tests.helpers import ingest_file

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _view(settings, contracts, viewer: Viewer | None = None) -> View:
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    return View(engine, contracts, settings, viewer or Viewer("admin", "admin"), NOW)


def test_every_page_has_its_template_and_a_navigation_entry():
    pages = registry.pages()
    assert [p.slug for p in pages][:2] == ["cockpit", "catalog"]
    for page in pages:
        TEMPLATES.get_template(page.template_name)
        if page.detail:
            TEMPLATES.get_template(f"{page.slug}_detail.html.j2")
    views = registry.external_views("jinshu/governance")
    assert {v["href"] for v in views} == {f"jinshu/governance/{p.slug}" for p in pages}
    assert [v["url_route"] for v in views if v.get("nav_top_level")] == ["jinshu-cockpit"]
    assert all(not v["href"].startswith("/") for v in views)


def test_cockpit_and_ledger_count_what_was_stored(settings, contracts):
    contract = contracts["household_registration"]
    name, data = generate_extract(contract, 40, seed=3)
    outcome = ingest_file(settings, contracts, contract, name, data)
    view = _view(settings, contracts)
    data = cockpit.query(view)
    assert data["figures"]["rows_stored"] == outcome.batch.stored > 0
    assert data["figures"]["batches"] == 1
    live = cockpit.query(replace(view, now=datetime.now(UTC)))  # the batch arrived today
    assert live["chart"]["batches"]["total"] == 1 and live["chart"]["batches"]["bars"][-1]["h"] != "0.0"
    assert ledger.query(view)["count"] == 1
    other = _view(settings, contracts, Viewer("sx_minzheng", "user", "sx_minzheng"))
    assert ledger.query(other)["count"] == 0  # another department's batches are not listed
    with pytest.raises(ledger.NotFound):
        ledger.detail(other, outcome.batch.batch_id)


def test_the_repeat_page_and_the_cockpit_show_what_detection_found(settings, contracts):
    view = _view(settings, contracts)
    page = registry.page("repeat")
    assert page.ready(view) and repeat.conflicts_per_day(view) == {}  # table there, no run yet
    with view.engine.begin() as conn:
        conn.execute(repeat_findings.insert().values(
            run_id="run-1", collector_dataset="social_insurance_enrollment", concept="person.name",
            method="exact", collector_department="sx_renshe", collector_field="name",
            authority_dataset="household_registration", authority_department="sx_gongan",
            authority_field="name", takes=False, collector_subjects=40, subjects_twice=34,
            conflicts=7, uncertain=0, found_at=NOW))
    shown = page.query(view)["findings"]
    assert shown["count"] == 1 and "person.name" in shown["rows"][0]
    assert repeat.conflicts_per_day(view) == {"2026-12-03": 7.0}
    assert cockpit.query(view)["chart"]["conflicts"] is not None


def test_the_open_data_page_lists_each_datasets_current_and_kept_versions(settings, contracts):
    view = _view(settings, contracts)
    before = {d["id"]: d for d in opendata.query(view)["opened"]}
    assert before and all(d["current"] is None and d["kept"] == [] for d in before.values())
    name, data = generate_extract(contracts["vaccination_sites"], 6, seed=3)
    ingest_file(settings, contracts, contracts["vaccination_sites"], name, data)
    store = open_store(settings.open_data_url)
    engine = engine_for(settings.store_url)
    for moment in (NOW, NOW + timedelta(hours=1)):
        publisher.publish(engine, store, contracts["vaccination_sites"], moment)
    shown = {d["id"]: d for d in opendata.query(view)["opened"]}["vaccination_sites"]
    latest = site.pointer(store, "vaccination_sites")
    assert shown["current"] == latest["version"] and len(shown["kept"]) == 2
    assert shown["kept"][0]["url"].endswith(latest["path"])
    livelihood = [d["livelihood"] for d in opendata.query(view)["opened"]]
    assert livelihood == sorted(livelihood, reverse=True)  # livelihood datasets first


def test_a_page_carrying_a_raw_identifier_is_not_rendered():
    leaky, masked = TEMPLATES.from_string("<p>{{ v }}</p>"), TEMPLATES.from_string("<p>{{ v|shown }}</p>")
    with pytest.raises(LeakFound):
        render(leaky, "test", v="140105199803071232")
    assert render(masked, "test", v="140105199803071232") == "<p>1****************2</p>"


def test_data_docs_pages_point_at_local_copies_and_refuse_anything_external(tmp_path: Path):
    site = tmp_path / "data-docs"
    page = site / "validations" / "suite" / "run" / "index.html"
    page.parent.mkdir(parents=True)
    html = "".join(f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>'
                   for url in offline.CDN) + f'<img src="{offline.GX_IMAGES}logo-long.png?d=1">'
    rewritten = offline.rewrite(html, page, site)
    assert "https://" not in rewritten and "integrity" not in rewritten
    assert '"../../../static/vendor/jquery/jquery.min.js"' in rewritten
    assert '"../../../static/images/logo-long.png"' in rewritten
    offline.copy_assets(site)
    for file in offline.CDN.values():
        assert (site / "static" / "vendor" / file).stat().st_size > 100
    with pytest.raises(offline.ExternalAsset, match=r"cdn\.example\.org"):
        offline.rewrite('<link href="https://cdn.example.org/x.css">', page, site)
