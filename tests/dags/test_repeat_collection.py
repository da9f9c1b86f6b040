"""The repeat_collection DAG measures, sends back and reports in a real Airflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.models import DagBag

from jinshu.dev.generate import generate_frame, render_extract
from jinshu.store.engine import engine_for
from jinshu.store.tables import audit_log, repeat_findings, repeat_notices, repeat_runs
from tests.helpers import ingest_file, make_settings

pytestmark = pytest.mark.xdist_group("airflow")  # one worker owns the shared Airflow DB
DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def test_the_dag_finds_planted_repeats_and_sends_them_back(pg_url, tmp_path, monkeypatch, contracts):
    settings = make_settings(tmp_path / "home", store_url=pg_url)
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", pg_url)
    household, social = contracts["household_registration"], contracts["social_insurance_enrollment"]
    people = generate_frame(household, 30, seed=41)
    ingest_file(settings, contracts, household, "h.csv", render_extract(household, people)[1])
    enrolled = generate_frame(social, 12, seed=42, ids=people["id_number"])
    enrolled.loc[:1, "name"] = enrolled.loc[:1, "name"] + "某"  # two conflicting names
    ingest_file(settings, contracts, social, "s.csv", render_extract(social, enrolled)[1])
    dag = DagBag(dag_folder=str(DAGS_DIR / "repeat_collection.py")).dags["repeat_collection"]
    dagrun = dag.test()
    assert dagrun.state == "success"
    engine = engine_for(pg_url)
    with engine.connect() as conn:
        [run] = conn.execute(sa.select(repeat_runs)).all()
        name = conn.execute(sa.select(repeat_findings).where(
            repeat_findings.c.collector_dataset == social.id,
            repeat_findings.c.concept == "person.name")).one()
        notices = conn.execute(sa.select(repeat_notices.c.concept)).scalars().all()
        [entry] = conn.execute(sa.select(audit_log).where(audit_log.c.seq == run.audit_seq)).all()
    assert run.run_id == dagrun.run_id  # a retry of the task replaces this run's findings
    assert (name.collector_subjects, name.subjects_twice, name.conflicts) == (12, 12, 2)
    assert sorted(notices) == ["person.birth_date", "person.name", "person.sex"]
    assert entry.actor == "airflow:repeat_collection.detect_repeat_collection"
    assert json.loads(entry.details)["conflicts"] == 2
