"""The exchange_deadlines DAG escalates an overdue request in a real Airflow run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.models import DagBag

from jinshu.share import grants
from jinshu.share.decision import Caller
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema
from jinshu.store.tables import audit_log, exchange_requests
from tests.helpers import make_settings

pytestmark = pytest.mark.xdist_group("airflow")  # one worker owns the shared Airflow DB
DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def test_an_overdue_request_is_escalated_by_the_dag(pg_url, tmp_path, monkeypatch, contracts):
    settings = make_settings(tmp_path / "home", store_url=pg_url)
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", pg_url)
    engine = engine_for(pg_url)
    ensure_schema(engine, contracts)
    long_ago = datetime(2026, 1, 5, 9, tzinfo=UTC)
    late = grants.create(engine, contracts["household_registration"],
                         Caller("p_x", "sx_renshe", "department"), "社保核验", ["name"], 30, False,
                         None, long_ago, frozenset())
    dag = DagBag(dag_folder=str(DAGS_DIR / "exchange_deadlines.py")).dags["exchange_deadlines"]
    assert dag.test().state == "success"
    with engine.connect() as conn:
        escalated = conn.execute(sa.select(exchange_requests.c.escalated_at)
                                 .where(exchange_requests.c.id == late.id)).scalar()
        overdue = conn.execute(sa.select(audit_log.c.subject)
                               .where(audit_log.c.action == "exchange_overdue")).scalars().all()
    assert escalated is not None and overdue == ["household_registration"]
