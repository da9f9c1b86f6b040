"""Conform an extract to its contract: headers to field names, values cleaned.

Grain: one row per readable record, one column per contract field plus
``_row``. Headers match a field by name, Chinese title or alias, after
folding full-width characters and case. A column the contract does not
declare is a scope violation: it is counted and dropped here, before
anything is stored, and its values go nowhere. A header marked with a
state-secret classification refuses the whole file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

from jinshu.catalog import Contract
from jinshu.collect.read import ROW

FULL_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FULL_WIDTH_CHARS = "[\uff01-\uff5e\u3000]"


class MissingColumns(ValueError):
    """Required fields have no column: the batch cannot be checked."""

    def __init__(self, missing: list[str], headers: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"required column(s) {', '.join(missing)} not found among headers {headers}. "
            "Fix: add the column with the title given in the contract"
        )


class AmbiguousColumns(ValueError):
    def __init__(self, field: str, headers: list[str]) -> None:
        super().__init__(
            f"headers {headers} all mean field '{field}'. Fix: keep one of these columns"
        )


class StateSecretMarking(ValueError):
    """The file is marked as holding state secrets: it may not enter the platform."""

    rule = "state_secret"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"column '{header}' carries a state-secret classification marking; no value of "
            "this file was read or kept. Fix: state secrets stay outside the sharing platform "
            "(docs/regulation.md#state-secrets): send the extract without the classified column, through the "
            "department's secrecy office if it must be declassified first"
        )


# GB/T 7156 classification levels and the ★ of a classification mark (e.g. 机密★1年).
SECRECY_MARKS = re.compile(r"绝密|机密|秘密|密级|★")


@dataclass(frozen=True)
class ScopeViolation:
    """A column outside the declared collection scope (values never kept)."""

    header: str
    non_empty_values: int


def fold(text: str) -> str:
    """Half-width, trimmed, lower-case, no inner spaces: the form headers are matched in."""
    return unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "").replace("_", "")


def header_map(contract: Contract) -> dict[str, str]:
    """Folded header -> field name, from names, titles and aliases."""
    out: dict[str, str] = {}
    for f in contract.fields:
        for label in (f.name, f.title, *f.aliases):
            out[fold(label)] = f.name
    return out


def clean_values(values: pd.Series) -> pd.Series:
    """Full-width -> half-width, trimmed; empty strings become missing."""
    if values.str.contains(_FULL_WIDTH_CHARS, regex=True).any():
        values = values.str.translate(FULL_WIDTH)
    values = values.str.strip()
    return values.mask(values == "")


def conform(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, list[ScopeViolation]]:
    """Rename, select and clean the contract's columns; report undeclared ones."""
    known = header_map(contract)
    chosen: dict[str, int] = {}  # field -> column position (headers may repeat)
    violations: list[ScopeViolation] = []
    headers = [str(h) for h in frame.columns]
    marked = next((h for h in headers if SECRECY_MARKS.search(unicodedata.normalize("NFKC", h))), None)
    if marked is not None:
        raise StateSecretMarking(marked)
    for position, header in enumerate(headers):
        if header == ROW:
            continue
        name = known.get(fold(header))
        if name is None:
            values = frame.iloc[:, position].str.strip()
            violations.append(ScopeViolation(header, int((values != "").sum())))
        elif name in chosen:
            raise AmbiguousColumns(name, [headers[chosen[name]], header])
        else:
            chosen[name] = position
    missing = [f.name for f in contract.fields if f.required and f.name not in chosen]
    if missing:
        raise MissingColumns(missing, [h for h in headers if h != ROW])
    out = pd.DataFrame({ROW: frame[ROW].to_numpy()}, index=frame.index)
    for f in contract.fields:
        if f.name in chosen:
            out[f.name] = clean_values(frame.iloc[:, chosen[f.name]])
        else:
            out[f.name] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return out[[*contract.field_names, ROW]], violations
