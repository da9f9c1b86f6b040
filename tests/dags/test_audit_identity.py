"""A real Airflow run audits what it did under the task's identity, not a free-form name."""

from __future__ import annotations

import sqlalchemy as sa
from airflow.models import DagBag

from jinshu.dev.generate import generate_extract
from jinshu.govern import audit
from jinshu.settings import DAGS_DIR
from jinshu.store.engine import engine_for
from tests.helpers import ingest_file, make_settings


def test_a_dag_run_audits_its_entries_as_airflow_dag_and_task(tmp_path, monkeypatch, contracts):
    settings = make_settings(tmp_path / "home")
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    household = contracts["household_registration"]
    name, data = generate_extract(household, 8, seed=3)
    ingest_file(settings, contracts, household, name, data)
    bag = DagBag(dag_folder=str(DAGS_DIR / "rotate_keys.py"))
    assert not bag.import_errors
    run = bag.get_dag("rotate_keys").test()
    assert run.state == "success"
    with engine_for(settings.store_url).connect() as conn:
        rows = conn.execute(sa.select(audit.audit_log.c.action, audit.audit_log.c.actor)
                            .where(audit.audit_log.c.action.like("key_rotation%"))).all()
        assert audit.verify(conn).intact
    assert rows and {actor for _, actor in rows} == {"airflow:rotate_keys.rotate"}
