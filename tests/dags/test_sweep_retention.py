"""The daily retention sweep in real Airflow runs (``dag.test()``), and the demo's run reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.models import DagBag

from jinshu.dev import demo
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.tables import audit_log, batches
from tests.helpers import ingest_file, make_settings

pytestmark = pytest.mark.xdist_group("airflow")  # one worker owns the shared Airflow DB
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "sweep_retention.py"
CLEAN = ("公民身份号码,姓名,性别,出生日期,民族,户籍地行政区划代码,住址,登记日期\n"
         "140105199803071232,张伟,1,1998-03-07,汉族,140105,,2020-01-02\n").encode()


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert not bag.import_errors
    return bag


@pytest.fixture
def platform(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "home")
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    for name in ("JINSHU_STORE_URL", "JINSHU_LANDING_URL", "JINSHU_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return settings


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.lines: list[str] = []

    def start(self, label: str) -> None:
        self.started.append(label)

    def line(self, text: str) -> None:
        self.lines.append(text)


def test_the_daily_sweep_removes_what_expired_and_audits_it(dagbag, platform, contracts):
    household = contracts["household_registration"]
    kept = ingest_file(platform, contracts, household, "recent.csv", CLEAN)
    old = ingest_file(platform, contracts, household, "old.csv", CLEAN.replace(b"1232,", b"1232 ,"))
    engine = engine_for(platform.store_url)
    with engine.begin() as conn:  # closed 31 days ago
        conn.execute(batches.update().where(batches.c.batch_id == old.batch.batch_id)
                     .values(finished_at=datetime.now(UTC) - timedelta(days=31)))
    assert dagbag.dags["sweep_retention"].test().state == "success"
    landing = open_store(platform.landing_url)
    assert [o.key for o in landing.list("")] == [kept.batch.file_key]
    with engine.connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "retention_sweep")
                             ).one()
    assert json.loads(entry.details)["batches"] == {household.id: [old.batch.batch_id]}


def test_the_demo_reports_each_dag_run_to_its_progress_display(dagbag, platform, tmp_path):
    shown = Recorder()
    runs = demo.run_dags(dagbag, ["sweep_retention"], tmp_path / "logs", shown)
    assert runs == [("sweep_retention", "success")]
    assert shown.started == ["sweep_retention"]
    [line] = shown.lines
    assert line.split()[:2] == ["sweep_retention", "success"]
