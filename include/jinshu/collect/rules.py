"""Row rules from the contract: required values, formats, code lists, types, ranges.

Takes a conformed frame (one row per record, field columns + ``_row``) and
splits it: rows that pass every rule, normalized to canonical form (ISO
dates, upper-case check characters, codes instead of labels), and one
violation per failing (row, column) naming the rule and the fix. A row with
any violation is quarantined as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from jinshu.catalog import Contract, FieldSpec
from jinshu.collect.read import ROW
from jinshu.repeat.dedup import natural_key_clashes
from jinshu.vocab import formats

VIOLATION_COLUMNS = [ROW, "column", "rule", "detail", "fix"]
_DATE_SEPARATORS = r"[/.年月]"


@dataclass
class Checked:
    valid: pd.DataFrame
    violations: pd.DataFrame  # VIOLATION_COLUMNS, one row per failing (row, column)


def _violations(rows: pd.Series, column: str, rule: str, detail: str, fix: str) -> pd.DataFrame:
    return pd.DataFrame({ROW: rows.to_numpy(), "column": column, "rule": rule,
                         "detail": detail, "fix": fix})


def normalize_dates(values: pd.Series) -> pd.Series:
    """``2024/3/5``, ``2024年3月5日``, ``20240305`` -> ``2024-03-05``; unparseable -> missing."""
    iso = values.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    if iso.fillna(True).all():  # the common case: already canonical, only check that the dates exist
        parsed = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
        return values.mask(parsed.isna())
    text = values.str.replace("日", "", regex=False).str.replace(_DATE_SEPARATORS, "-", regex=True)
    text = text.str.replace(r"^([0-9]{4})([0-9]{2})([0-9]{2})$", r"\1-\2-\3", regex=True)
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return parsed.dt.strftime("%Y-%m-%d").astype("str").mask(parsed.isna())


def normalize_numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.str.replace(",", "", regex=False), errors="coerce")


def check_field(
    values: pd.Series, rows: pd.Series, spec: FieldSpec
) -> tuple[pd.Series, list[pd.DataFrame]]:
    """Normalized values of one column and the violations found in it."""
    found: list[pd.DataFrame] = []
    present = values.notna()
    label = f"{spec.name} ({spec.title})"
    if spec.required and not present.all():
        found.append(_violations(rows[~present], spec.name, "required",
                                 f"{label} is empty", f"fill in {spec.title} for every record"))
    if not present.any():
        return values, found
    if spec.values is not None:
        labels = {label_: code for code, label_ in spec.values.items()}
        values = values.replace(labels)
        bad = present & ~values.isin(list(spec.values))
        if bad.any():
            allowed = ", ".join(f"{c}={lbl}" for c, lbl in spec.values.items())
            found.append(_violations(rows[bad], spec.name, "code_list",
                                     f"{label} is not in the code list", f"use one of {allowed}"))
    if spec.format is not None:
        values, found_format = _check_format(values, present, rows, spec, label)
        found += found_format
    if spec.type == "date":
        values = normalize_dates(values)
        bad = present & values.isna()
        if bad.any():
            found.append(_violations(rows[bad], spec.name, "date", f"{label} is not a date",
                                     "write dates as YYYY-MM-DD"))
    elif spec.type in ("integer", "decimal"):
        values, found_numbers = _check_number(values, present, rows, spec, label)
        found += found_numbers
    return values, found


def _check_format(
    values: pd.Series, present: pd.Series, rows: pd.Series, spec: FieldSpec, label: str
) -> tuple[pd.Series, list[pd.DataFrame]]:
    """Normalized values and one violation per bad value, naming the part of the format that
    failed ("resident ID number: check character does not match the first 17 digits")."""
    fmt = formats.REGISTRY[spec.format]
    values = values.where(~present, fmt.normalize(values))
    failed = np.full(len(values), -1, dtype=np.int8)  # the index of the failed part, by position
    failed[present.to_numpy()] = fmt.failures(values[present]).cat.codes.to_numpy()
    found = []
    for i, problem in enumerate(fmt.PARTS.values()):
        bad = failed == i
        if bad.any():
            found.append(_violations(rows[bad], spec.name, spec.format, f"{label}: {problem}", fmt.FIX))
    return values, found


def _check_number(
    values: pd.Series, present: pd.Series, rows: pd.Series, spec: FieldSpec, label: str
) -> tuple[pd.Series, list[pd.DataFrame]]:
    numbers = normalize_numbers(values)
    found = []
    bad = present & (numbers.isna() | np.isinf(numbers))
    if spec.type == "integer":
        bad |= present & numbers.notna() & (numbers % 1 != 0)
    if bad.any():
        found.append(_violations(rows[bad], spec.name, spec.type, f"{label} is not a {spec.type}",
                                 f"write {spec.title} as a plain number"))
    low = -np.inf if spec.minimum is None else spec.minimum
    high = np.inf if spec.maximum is None else spec.maximum
    out_of_range = numbers.notna() & ~np.isinf(numbers) & ~numbers.between(low, high)
    if out_of_range.any():
        found.append(_violations(rows[out_of_range], spec.name, "range",
                                 f"{label} is outside [{low}, {high}]",
                                 "check the value and the unit of the column"))
    if spec.type == "integer":
        numbers = numbers.where(numbers % 1 == 0).astype("Int64")
    return numbers.astype("str").mask(numbers.isna()), found


def natural_key_conflicts(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Violations for rows sharing a natural key with a *different* record in the same batch."""
    key = list(contract.natural_key)
    return _violations(
        frame.loc[natural_key_clashes(frame, contract), ROW], ",".join(key), "natural_key_conflict",
        f"the same {'/'.join(key)} appears with different values in this file",
        f"send one record per {'/'.join(key)}",
    )


def check_rows(frame: pd.DataFrame, contract: Contract) -> Checked:
    """Apply every field rule, then the natural-key rule on the rows that passed."""
    rows = frame[ROW]
    normalized = {ROW: rows}
    found: list[pd.DataFrame] = []
    for spec in contract.fields:
        normalized[spec.name], field_found = check_field(frame[spec.name], rows, spec)
        found += field_found
    checked = pd.DataFrame(normalized, index=frame.index)[[*contract.field_names, ROW]]
    violations = pd.concat(found, ignore_index=True) if found else _violations(
        pd.Series([], dtype="int64"), "", "", "", "")
    passed = checked[~checked[ROW].isin(violations[ROW])]
    conflicts = natural_key_conflicts(passed, contract)
    if not conflicts.empty:
        violations = pd.concat([violations, conflicts], ignore_index=True)
        passed = passed[~passed[ROW].isin(conflicts[ROW])]
    return Checked(passed.reset_index(drop=True), violations[VIOLATION_COLUMNS])
