"""Anonymization of records for open data (GB/T 35273-2020 §3.14, GB/T 37964-2019): not masking.

Direct identifiers and every non-public field are removed (the one exit policy,
:func:`jinshu.protect.policy.on_exit`); the quasi-identifiers the contract names are
generalized along their levels (:mod:`jinshu.vocab.generalize`: birth date to year,
address to district, age to band, county to prefecture...) until the records left in
combinations shared by fewer than ``k`` are at most ``max_suppression`` of the whole
(Datafly: the quasi-identifier with the most distinct values climbs one level at a
time); those residual records are then suppressed. What was done is returned as a
:class:`Disclosure`, which the data package states.

>>> import pandas as pd
>>> frame = pd.DataFrame({"birth": ["1990-01-02", "1990-05-06", "1991-03-04", "1985-07-08"],
...                       "sex": ["1", "1", "1", "2"]})
>>> rows, levels, suppressed = k_anonymous(frame, {"birth": ("year", "decade"), "sex": ("exact",)},
...                                        k=2, max_suppression=0.25)
>>> rows.to_dict("list")
{'birth': ['1990-1999', '1990-1999', '1990-1999'], 'sex': ['1', '1', '1']}
>>> levels, suppressed
({'birth': 'decade', 'sex': 'exact'}, 1)
>>> achieved_k(rows, ["birth", "sex"])
3
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from jinshu.catalog import Contract
from jinshu.protect import policy
from jinshu.vocab.generalize import generalize, kind_of, levels_for


@dataclass(frozen=True)
class Disclosure:
    """What anonymization did to one product, as the package states it (``anonymization``)."""

    method: str
    k_required: int | None = None
    k_achieved: int | None = None
    quasi_identifiers: dict[str, str] = field(default_factory=dict)  # field -> level published
    suppressed_records: int = 0
    suppressed_groups: int = 0
    removed_fields: tuple[str, ...] = ()
    perturbation: dict | None = None
    standards: tuple[str, ...] = ("GB/T 35273-2020", "GB/T 37964-2019")

    def as_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def qi_levels(contract: Contract) -> dict[str, tuple[str, ...]]:
    """Each quasi-identifier's levels (its kind's first level when the contract gives none)."""
    out = {}
    for qi in contract.open.quasi_identifiers:
        spec = contract.by_name[qi.field]
        out[qi.field] = qi.levels or levels_for(kind_of(spec.type, spec.format, spec.mask))[:1]
    return out


def class_sizes(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Per row, how many rows share its combination of ``columns`` (missing is a value)."""
    return frame.groupby(columns, dropna=False, sort=False)[columns[0]].transform("size")


def achieved_k(frame: pd.DataFrame, columns: list[str]) -> int | None:
    """The smallest equivalence class: the k the rows achieve (None without rows or columns)."""
    if not columns or frame.empty:
        return None
    return int(class_sizes(frame, columns).min())


def k_anonymous(frame: pd.DataFrame, levels: dict[str, tuple[str, ...]], k: int,
                max_suppression: float) -> tuple[pd.DataFrame, dict[str, str], int]:
    """(rows generalized and filtered to k-anonymity, the level used per column, rows suppressed).

    Starts each column at its first level and raises the column with the most distinct
    values while more than ``max_suppression`` of the rows sit in classes under ``k``.
    """
    at = dict.fromkeys(levels, 0)
    cache: dict[tuple[str, int], pd.Series] = {}

    def column(name: str) -> pd.Series:
        key = (name, at[name])
        if key not in cache:
            cache[key] = generalize(levels[name][at[name]], frame[name])
        return cache[key]

    names = list(levels)
    while True:
        current = pd.DataFrame({n: column(n) for n in names}, index=frame.index)
        small = class_sizes(current, names) < k if names and len(current) else \
            pd.Series(False, index=frame.index)
        if small.sum() <= max_suppression * len(frame):
            break
        climbable = [n for n in names if at[n] + 1 < len(levels[n])]
        if not climbable:
            break
        at[max(climbable, key=lambda n: current[n].nunique(dropna=False))] += 1
    out = frame.copy()
    for n in names:
        out[n] = current[n]
    return out[~small], {n: levels[n][at[n]] for n in names}, int(small.sum())


def anonymize_records(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, Disclosure]:
    """The published columns of each record (others removed, quasi-identifiers generalized),
    rows in rare combinations suppressed; the frame keeps its index (for provenance)."""
    kept = [f for f in contract.fields if policy.on_exit(f, contract, policy.OPEN_DATA) != "drop"]
    removed = tuple(f.name for f in contract.fields if f not in kept)
    rows = frame[[f.name for f in kept]]
    levels = qi_levels(contract)
    if not levels:
        method = ("already disclosed: opened unconditionally, personal fields removed"
                  if contract.open.already_disclosed else
                  "no personal data: non-public fields removed" if contract.subject != "person"
                  else "non-public fields removed")
        return rows, Disclosure(method=method, removed_fields=removed)
    spec = contract.open
    safe, used, suppressed = k_anonymous(rows, levels, spec.k, spec.max_suppression)
    return safe, Disclosure(
        method="generalization and suppression (k-anonymity)", k_required=spec.k,
        k_achieved=achieved_k(safe, list(levels)) or (spec.k if suppressed else None),
        quasi_identifiers=used, suppressed_records=suppressed, removed_fields=removed)
