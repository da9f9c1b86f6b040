"""Consent: the registry of decisions, the gate at ingest, and withdrawals.

Data that no law names may be collected only with the subject's consent
(REFERENCE §1.2). For every field whose contract basis is ``consent``:

* the **gate** keeps a value only where the registry's latest decision for
  that subject, dataset and field, as of the batch's date, is ``granted``;
  otherwise the value is dropped (not stored, not quarantined) and the record
  itself is stored all the same: a refusal never blocks the service;
* a **withdrawal** removes that field's stored values for that subject from
  the central store at once; the next publish run rebuilds the exchange and
  open data without them.

Subjects are identified by their keyed pseudonym, never by a raw ID number.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu import audit
from jinshu.catalog import Contract, Department, FieldSpec, load_contract
from jinshu.dedup import Pseudonymizer
from jinshu.formats import REGISTRY
from jinshu.read import ROW
from jinshu.rules import VIOLATION_COLUMNS
from jinshu.settings import PACKAGE_DIR
from jinshu.store import consents, dataset_table, withdrawals

CONSENT_CONTRACT = PACKAGE_DIR / "data" / "consent.yaml"
# When two decisions share a date, the more protective one wins.
PRECEDENCE = {"granted": 0, "refused": 1, "withdrawn": 2}


def consent_contract(department: Department, path: Path = CONSENT_CONTRACT) -> Contract:
    """The consent-extract contract, placed in one department's landing area."""
    return load_contract(path).model_copy(update={"department": department})


def consent_fields(contract: Contract) -> list[FieldSpec]:
    return [f for f in contract.fields if f.needs_consent]


def subject_pseudonyms(frame: pd.DataFrame, contract: Contract, pseudonyms: Pseudonymizer) -> pd.Series:
    """Pseudonym of each row's subject, from the normalized subject key."""
    spec = contract.by_name[contract.subject_key]
    values = frame[spec.name]
    if spec.format:
        values = values.where(values.isna(), REGISTRY[spec.format].normalize(values))
    return pseudonyms.many(values)


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


def gate(frame: pd.DataFrame, subjects: pd.Series, granted: dict[str, set[str]]
         ) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """Drop consent-field values of subjects without a granted decision.

    Grain unchanged: one row per record; every record stays. Returns the
    frame and, per field, (values kept, values dropped).
    """
    out = frame.copy()
    counts = {}
    for field, subjects_granted in granted.items():
        present = out[field].notna()
        allowed = subjects.isin(subjects_granted).to_numpy()
        drop = present & ~allowed
        out.loc[drop, field] = pd.NA
        counts[field] = (int((present & allowed).sum()), int(drop.sum()))
    return out, counts


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


def check_decisions(frame: pd.DataFrame, department_code: str, contracts: dict[str, Contract],
                    today: date) -> pd.DataFrame:
    """Violations (``VIOLATION_COLUMNS``) of the consent-specific rules, one per bad row."""
    problems = []
    for row, dataset_id, field, decided_on in frame[[ROW, "dataset", "field", "decided_on"]] \
            .itertuples(index=False, name=None):
        contract = contracts.get(dataset_id)
        if contract is None or contract.department.code != department_code:
            problems.append((row, "dataset", "unknown_dataset",
                             f"dataset '{dataset_id}' is not a dataset of {department_code}",
                             "use the id of one of your department's datasets"))
        elif field not in {f.name for f in consent_fields(contract)}:
            allowed = ", ".join(f.name for f in consent_fields(contract)) or "none"
            problems.append((row, "field", "not_a_consent_field",
                             f"'{field}' of {dataset_id} is not collected on consent",
                             f"use one of: {allowed}"))
        elif date.fromisoformat(decided_on) > today:
            problems.append((row, "decided_on", "future_date",
                             f"decision dated {decided_on}, after today ({today})",
                             "record the date the subject actually decided"))
    return pd.DataFrame(problems, columns=VIOLATION_COLUMNS)


def honor_withdrawal(conn: Connection, contract: Contract, subject_key: str, field: str,
                     withdrawn_on: date, now: datetime) -> int:
    """Remove the field's stored values for the subject; record how many."""
    table = dataset_table(contract)
    removed = conn.execute(
        table.update().where(table.c._subject_key == subject_key, table.c[field].is_not(None))
        .values({field: None}).execution_options(preserve_rowcount=True)
    ).rowcount
    conn.execute(withdrawals.insert().values(
        subject_key=subject_key, dataset_id=contract.id, field=field, withdrawn_on=withdrawn_on,
        honored_at=now, values_removed=removed))
    audit.append(conn, "consent_withdrawal", f"{contract.id}.{field}",
                 {"values_removed": removed, "withdrawn_on": withdrawn_on}, now=now)
    return removed


def record_decisions(conn: Connection, decisions: pd.DataFrame, contracts: dict[str, Contract],
                     source: str, now: datetime, actor: str = "jinshu") -> tuple[int, int]:
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
