"""Findings sent back to the collecting department: one notice per dataset and concept.

A run that finds subjects whose concept a dataset collects again, though another
dataset is its authority, opens a notice addressed to the collecting department
(or refreshes the open one with the run's counts). A notice closes, saying why,
at the first run that no longer finds it: the dataset now takes the concept from
the authority, it no longer collects it, or no subject is collected twice any
more. Opening and closing are audited (counts only); ``jinshu report repeat``
shows open notices with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu.govern import audit
from jinshu.store.tables import repeat_findings, repeat_notices

OPENED, CLOSED = "repeat_notice_opened", "repeat_notice_closed"


@dataclass(frozen=True)
class Sent:
    opened: int
    refreshed: int
    closed: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _why_closed(finding: sa.Row | None, run_id: str) -> str:
    if finding is None:
        return f"run {run_id}: the dataset no longer collects this concept"
    if finding.takes:
        return f"run {run_id}: the dataset now takes this concept from its authority"
    return f"run {run_id}: no subject's value is collected twice any more"


def send_back(engine: Engine, run_id: str, now: datetime) -> Sent:
    """Open, refresh or close notices from run ``run_id``'s findings; a repeat of the same
    run changes nothing more."""
    f, n = repeat_findings.c, repeat_notices.c
    with engine.begin() as conn:
        rows = conn.execute(sa.select(
            f.collector_dataset, f.concept, f.collector_department, f.collector_field,
            f.authority_dataset, f.authority_department, f.takes,
            sa.func.sum(f.subjects_twice).label("subjects_twice"),
            sa.func.sum(f.conflicts).label("conflicts"),
        ).where(f.run_id == run_id).group_by(  # exact and probabilistic findings together
            f.collector_dataset, f.concept, f.collector_department, f.collector_field,
            f.authority_dataset, f.authority_department, f.takes)).all()
        found = {(r.collector_dataset, r.concept): r for r in rows}
        current = {key: r for key, r in found.items() if r.subjects_twice and not r.takes}
        open_now = {(r.collector_dataset, r.concept): r for r in conn.execute(
            sa.select(repeat_notices).where(n.closed_at.is_(None)))}
        opened = refreshed = closed = 0
        for key, r in current.items():
            counts = {"subjects_twice": int(r.subjects_twice),
                      "conflicts": None if r.conflicts is None else int(r.conflicts)}
            if key in open_now:
                conn.execute(repeat_notices.update().where(n.id == open_now[key].id)
                             .values(last_run=run_id, **counts))
                refreshed += 1
                continue
            conn.execute(repeat_notices.insert().values(
                collector_department=r.collector_department, collector_dataset=r.collector_dataset,
                collector_field=r.collector_field, concept=r.concept,
                authority_department=r.authority_department, authority_dataset=r.authority_dataset,
                opened_at=now, opened_run=run_id, last_run=run_id, **counts))
            audit.append(conn, OPENED, f"{r.collector_dataset}.{r.concept}",
                         {"department": r.collector_department, "authority": r.authority_dataset,
                          "run": run_id, **counts}, now=now)
            opened += 1
        for key, notice in open_now.items():
            if key in current:
                continue
            reason = _why_closed(found.get(key), run_id)
            conn.execute(repeat_notices.update().where(n.id == notice.id).values(
                closed_at=now, closed_run=run_id, close_reason=reason))
            audit.append(conn, CLOSED, f"{notice.collector_dataset}.{notice.concept}",
                         {"department": notice.collector_department, "notice": notice.id,
                          "run": run_id, "reason": reason}, now=now)
            closed += 1
    return Sent(opened, refreshed, closed)
