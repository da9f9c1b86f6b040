"""Consent rules: which fields need consent, the gate at ingest, the checks on decisions.

Data that no law names may be collected only with the subject's consent
(docs/regulation.md#consent). For every field whose contract basis is ``consent``:

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

from datetime import date
from pathlib import Path

import pandas as pd

from jinshu.catalog import Contract, Department, FieldSpec, load_contract
from jinshu.collect.read import ROW
from jinshu.collect.rules import VIOLATION_COLUMNS
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.settings import CONSENT_CONTRACT
from jinshu.vocab.formats import REGISTRY

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

