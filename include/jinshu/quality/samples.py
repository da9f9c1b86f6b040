"""Samples of unexpected values, masked: results never carry a raw personal value.

Samples from a personal, sensitive-personal or trade-secret field pass through
the field's mask (:func:`jinshu.mask.apply`) before they leave
:func:`jinshu.quality.validate`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd

from jinshu.catalog import Contract, FieldSpec
from jinshu.protect import policy

SAMPLE_SIZE = 5


def plain(value: Any) -> str:
    """A value as text: dates without a midnight time, floats without trailing zeros."""
    if isinstance(value, pd.Timestamp | datetime):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def masker(contract: Contract):
    """A function masking a list of raw values from one column, as the column requires."""
    def masked(column: str, values: list[Any]) -> list[str]:
        texts = [plain(v) for v in values]
        spec: FieldSpec | None = contract.by_name.get(column)
        if spec is None:  # not a contract field: show nothing of it
            return ["***"] * len(texts)
        if not texts:
            return texts
        return policy.masked_for_exit(pd.Series(texts, dtype="str"), spec, contract,
                                      policy.REPORT).tolist()
    return masked


def sample(raw: list[Any], columns: list[str], masked) -> list[str]:
    """Up to five distinct unexpected values, masked; compound rows as ``a=..., b=...``."""
    values: list[Any] = []
    for value in raw:
        if _missing(value) or (value in values if not isinstance(value, dict) else False):
            continue
        values.append(value)
    if not values:
        return []
    if all(isinstance(v, dict) for v in values):
        rows = [dict(v) for v in values]
        keys = list(rows[0])
        by_key = {k: masked(k, [r.get(k) for r in rows]) for k in keys}
        joined = [", ".join(f"{k}={by_key[k][i]}" for k in keys) for i in range(len(rows))]
        return list(dict.fromkeys(joined))[:SAMPLE_SIZE]
    column = columns[0] if columns else ""
    return list(dict.fromkeys(masked(column, values[: SAMPLE_SIZE * 4])))[:SAMPLE_SIZE]
