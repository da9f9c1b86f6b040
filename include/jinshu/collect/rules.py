"""Row rules from the contract: required values, formats, code lists, types, ranges,
and the cross-field checks (a birth date, sex or region that contradicts the record's
own ID number or credit code).

Takes a conformed frame (one row per record, field columns + ``_row``) and
splits it: rows that pass every rule, normalized to canonical form (ISO
dates, upper-case check characters, codes instead of labels), and one
violation per failing (row, column) naming the rule and the fix. A row with
any violation is quarantined as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jinshu.catalog import Check, Contract, FieldSpec
from jinshu.collect.read import ROW
from jinshu.repeat.dedup import natural_key_clashes
from jinshu.vocab import formats
from jinshu.vocab.formats import cn_ric, uscc
from jinshu.vocab.formats._vector import fixed_width_bytes

VIOLATION_COLUMNS = [ROW, "column", "rule", "detail", "fix"]
_DATE_SEPARATORS = r"[/.年月]"


@dataclass
class Checked:
    valid: pd.DataFrame
    violations: pd.DataFrame  # VIOLATION_COLUMNS, one row per failing (row, column)
    clashes: pd.DataFrame | None = None  # natural keys sent with different values (normalized)


def _violations(rows: pd.Series, column: str, rule: str, detail: str, fix: str) -> pd.DataFrame:
    return pd.DataFrame({ROW: rows.to_numpy(), "column": column, "rule": rule,
                         "detail": detail, "fix": fix})


def normalize_dates(values: pd.Series) -> pd.Series:
    """``2024/3/5``, ``2024年3月5日``, ``20240305`` -> ``2024-03-05``; unparseable -> missing."""
    iso = values.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    if iso.fillna(True).all():  # the common case: already canonical, only check that the dates exist
        return values.mask(~_existing_iso_dates(values))
    text = values.str.replace("日", "", regex=False).str.replace(_DATE_SEPARATORS, "-", regex=True)
    text = text.str.replace(r"^([0-9]{4})([0-9]{2})([0-9]{2})$", r"\1-\2-\3", regex=True)
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return parsed.dt.strftime("%Y-%m-%d").astype("str").mask(parsed.isna())


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _existing_iso_dates(values: pd.Series) -> np.ndarray:
    """Which ``YYYY-MM-DD`` values (all present ones have that shape) name a day that
    exists, from their digits: month 1-12, day within the month, Feb 29 in leap years."""
    present = values.notna().to_numpy()
    exists = np.zeros(len(values), dtype=bool)
    if present.any():
        d = fixed_width_bytes(values[present], 10).astype(np.int32) - ord("0")
        year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
        month, day = d[:, 5] * 10 + d[:, 6], d[:, 8] * 10 + d[:, 9]
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        last = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
        exists[present] = (month >= 1) & (month <= 12) & (day >= 1) & (day <= last)
    return exists


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


@dataclass(frozen=True)
class Encoded:
    """One thing an identifier encodes: how to read it from the identifier and from the
    field that must agree (two comparable columns), and where it sits in the identifier."""

    from_identifier: Callable[[pd.Series], pd.Series | np.ndarray]
    from_field: Callable[[pd.Series], pd.Series | np.ndarray]
    what: str
    where: str


def _same(values: pd.Series) -> pd.Series:
    return values


ENCODED: dict[tuple[str, str], Encoded] = {  # (check rule, part) -> how the identifier holds it
    ("id_matches", "birth_date"): Encoded(
        cn_ric.birth_digits, lambda dates: dates.str.replace("-", "", regex=False),
        "birth date", "digits 7-14"),
    ("id_matches", "sex"): Encoded(
        cn_ric.is_male, lambda codes: (codes == "1").to_numpy(dtype=bool),
        "sex", "the 17th digit, odd for men and even for women"),
    ("id_matches", "county"): Encoded(cn_ric.regions, _same, "issuing county", "digits 1-6"),
    ("uscc_matches_region", "region"): Encoded(
        uscc.regions, _same, "registering authority's region", "characters 3-8"),
}
_COMPARABLE = {"sex": ["1", "2"]}  # codes an identifier can encode (not 0/9: unknown, unstated)


def _usable(checked: pd.DataFrame, violations: pd.DataFrame, name: str) -> pd.Series:
    """Present values that passed their own field rules (only those are compared)."""
    usable = checked[name].notna()
    failed = violations.loc[violations["column"] == name, ROW]
    return usable & ~checked[ROW].isin(failed) if len(failed) else usable


def cross_field_violations(checked: pd.DataFrame, violations: pd.DataFrame,
                           contract: Contract) -> list[pd.DataFrame]:
    """Rows whose fields contradict their own identifier (the contract's ``checks``).

    ``checked`` holds normalized values; pairs where either value is missing
    or already failed its field rules are not compared.
    """
    found = []
    for check in contract.checks:
        source = _usable(checked, violations, check.source)
        for part, name in check.parts:
            usable = source & _usable(checked, violations, name)
            if part in _COMPARABLE:
                usable &= checked[name].isin(_COMPARABLE[part])
            if not usable.any():
                continue
            encoded = ENCODED[check.rule, part]
            bad = np.asarray(encoded.from_identifier(checked.loc[usable, check.source])
                             != encoded.from_field(checked.loc[usable, name]))
            if bad.any():
                rows = checked.loc[usable, ROW][bad]
                found.append(_contradiction(rows, check, part, name, contract))
    return found


def _contradiction(rows: pd.Series, check: Check, part: str, name: str,
                   contract: Contract) -> pd.DataFrame:
    source, field = contract.by_name[check.source], contract.by_name[name]
    encoded = ENCODED[check.rule, part]
    return _violations(
        rows, f"{source.name},{field.name}", check.rule,
        f"{field.name} ({field.title}) contradicts the {encoded.what} that {source.name} "
        f"({source.title}) encodes in {encoded.where}",
        f"correct whichever of {field.title} and {source.title} is wrong",
    )


def natural_key_conflicts(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Violations for rows sharing a natural key with a *different* record in the same batch."""
    return clash_violations(frame.loc[natural_key_clashes(frame, contract), ROW], contract)


def clash_violations(rows: pd.Series, contract: Contract) -> pd.DataFrame:
    """The violation of rows whose natural key the file sends with different values."""
    key = list(contract.natural_key)
    return _violations(
        rows, ",".join(key), "natural_key_conflict",
        f"the same {'/'.join(key)} appears with different values in this file",
        f"send one record per {'/'.join(key)}",
    )


def check_rows(frame: pd.DataFrame, contract: Contract) -> Checked:
    """Apply every field rule and cross-field check, then the natural-key rule on the rows
    that passed."""
    rows = frame[ROW]
    normalized = {ROW: rows}
    found: list[pd.DataFrame] = []
    for spec in contract.fields:
        normalized[spec.name], field_found = check_field(frame[spec.name], rows, spec)
        found += field_found
    checked = pd.DataFrame(normalized, index=frame.index)[[*contract.field_names, ROW]]
    violations = pd.concat(found, ignore_index=True) if found else _violations(
        pd.Series([], dtype="int64"), "", "", "", "")
    contradictions = cross_field_violations(checked, violations, contract)
    if contradictions:
        violations = pd.concat([violations, *contradictions], ignore_index=True)
    passed = checked[~checked[ROW].isin(violations[ROW])]
    conflicts = natural_key_conflicts(passed, contract)
    key = list(contract.natural_key)
    clashes = passed[key].iloc[:0]
    if not conflicts.empty:
        violations = pd.concat([violations, conflicts], ignore_index=True)
        clashing = passed[ROW].isin(conflicts[ROW])
        clashes = passed.loc[clashing, key].drop_duplicates().reset_index(drop=True)
        passed = passed[~clashing]
    return Checked(passed.reset_index(drop=True), violations[VIOLATION_COLUMNS], clashes)
