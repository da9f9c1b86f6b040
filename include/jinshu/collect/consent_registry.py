"""The consent registry in the central store: decisions in force, the gate at ingest, withdrawals.

The rules themselves (which fields need consent, what the gate keeps) are
:mod:`jinshu.collect.consent`; this module reads and writes the ``consents``
and ``consent_withdrawals`` tables and the audit log.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import Contract
from jinshu.collect.consent import PRECEDENCE, consent_fields, gate, subject_pseudonyms
from jinshu.govern import audit
from jinshu.protect.policy import blind_index_column, extra_index_columns
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.store.tables import consents, dataset_table, withdrawals


def latest_decisions(conn: Connection, dataset_id: str, field: str, as_of: date) -> pd.Series:
    """subject_key -> the decision in force on ``as_of`` for one dataset field."""
    rows = pd.DataFrame(conn.execute(
        sa.select(consents.c.subject_key, consents.c.decision, consents.c.decided_on)
        .where(consents.c.dataset_id == dataset_id, consents.c.field == field,
               consents.c.decided_on <= as_of)
    ).all(), columns=["subject_key", "decision", "decided_on"])
    if rows.empty:
        return pd.Series(dtype="str")
    rows["rank"] = rows["decision"].map(PRECEDENCE)
    latest = rows.sort_values(["decided_on", "rank"]).groupby("subject_key").tail(1)
    return latest.set_index("subject_key")["decision"]


def apply_gate(conn: Connection, frame: pd.DataFrame, contract: Contract,
               pseudonyms: Pseudonymizer, as_of: date
               ) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    fields = consent_fields(contract)
    if not fields or frame.empty:
        return frame, {f.name: (0, 0) for f in fields}
    subjects = subject_pseudonyms(frame, contract, pseudonyms)
    granted = {}
    for f in fields:
        decisions = latest_decisions(conn, contract.id, f.name, as_of)
        granted[f.name] = set(decisions.index[decisions == "granted"])
    return gate(frame, subjects, granted)


def honor_withdrawal(conn: Connection, contract: Contract, subject_key: str, field: str,
                     withdrawn_on: date, now: datetime) -> int:
    """Remove the field's stored values for the subject, with their blind index when the
    field is encrypted (a withdrawn value can no longer be matched); record how many."""
    table, cleared = dataset_table(contract), {field: None}
    index = blind_index_column(contract, field)
    if index in extra_index_columns(contract):
        cleared[index] = None
    removed = conn.execute(
        table.update().where(table.c._subject_key == subject_key, table.c[field].is_not(None))
        .values(cleared).execution_options(preserve_rowcount=True)
    ).rowcount
    conn.execute(withdrawals.insert().values(
        subject_key=subject_key, dataset_id=contract.id, field=field, withdrawn_on=withdrawn_on,
        honored_at=now, values_removed=removed))
    audit.append(conn, "consent_withdrawal", f"{contract.id}.{field}",
                 {"values_removed": removed, "withdrawn_on": withdrawn_on}, now=now)
    return removed


def record_decisions(conn: Connection, decisions: pd.DataFrame, contracts: dict[str, Contract],
                     source: str, now: datetime, actor: str | None = None) -> tuple[int, int]:
    """Store decisions (columns: subject_key, dataset, field, decision, decided_on, channel).

    Returns (recorded, already known). A withdrawal that is now the decision
    in force removes the stored values in the same transaction.
    """
    recorded = known = 0
    for d in decisions.itertuples(index=False):
        decided_on = date.fromisoformat(str(d.decided_on))
        key = {"subject_key": d.subject_key, "dataset_id": d.dataset, "field": d.field,
               "decision": d.decision, "decided_on": decided_on}
        exists = conn.execute(sa.select(consents.c.id).filter_by(**key)).first()
        if exists:
            known += 1
            continue
        conn.execute(consents.insert().values(**key, channel=d.channel, source=source,
                                              recorded_at=now))
        recorded += 1
        if d.decision == "withdrawn":
            in_force = latest_decisions(conn, d.dataset, d.field, date.max).get(d.subject_key)
            if in_force == "withdrawn":
                honor_withdrawal(conn, contracts[d.dataset], d.subject_key, d.field, decided_on, now)
    audit.append(conn, "consent_decisions", source, {"recorded": recorded, "already_known": known},
                 actor=actor, now=now)
    return recorded, known
