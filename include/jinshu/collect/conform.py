"""Conform an extract to its contract: headers to field names, values cleaned.

Grain: one row per readable record, one column per contract field plus
``_row``. Headers match a field by name, Chinese title or alias, after
folding full-width characters and case. A column the contract does not
declare is a scope violation: it is counted and dropped here, before
anything is stored, and its values go nowhere. A field the dataset takes
from its concept's authority (``from_authority``) is declared but never
collected: its column, if the file has one, leaves it empty. A header marked
with a state-secret classification refuses the whole file.

Headers come from outside: messages never echo them whole. A missing column
is named by its field and title; a header row that looks like a record (an
identifier, a number or date, a very long cell) is reported as data, and
an undeclared header is kept only as :func:`jinshu.protect.leakguard.shown`
makes it (identifiers masked, control characters escaped, length capped).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pandas as pd

from jinshu.catalog import Contract, FieldSpec
from jinshu.collect.read import ROW
from jinshu.protect.leakguard import scan, shown

FULL_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FULL_WIDTH_CHARS = "[\uff01-\uff5e\u3000]"


HEADER_LIMIT = 64  # longer than any title or alias: a header this long is not one
_NUMBER_OR_DATE = re.compile(r"[0-9][0-9.,:/ -]*|[0-9]{4}年[0-9]{1,2}月([0-9]{1,2}日)?")


def looks_like_data(headers: list[str]) -> bool:
    """The header row is a record: it holds an identifier, a number or date, or a long cell."""
    for header in headers:
        text = unicodedata.normalize("NFKC", header).strip()
        if len(text) > HEADER_LIMIT or _NUMBER_OR_DATE.fullmatch(text) or scan(text):
            return True
    return False


def _named(fields: list[FieldSpec]) -> str:
    return ", ".join(f"{f.name} ({f.title})" for f in fields)


class MissingColumns(ValueError):
    """Required fields have no column: the batch cannot be checked. Names the fields, never
    the headers found (without a header row they are the first record's values)."""

    def __init__(self, missing: list[FieldSpec], headers: list[str],
                 separator: str | None = None) -> None:
        self.missing = [f.name for f in missing]
        self.header_is_data = looks_like_data(headers)
        if separator:  # see delimiter_hint
            super().__init__(
                f"required column(s) {_named(missing)} not found: the header row is one field "
                f"with the contract's titles separated by {separator}, so the file is "
                f"{separator}-separated. Fix: save the file again as CSV with commas between "
                "the fields")
        elif self.header_is_data:
            super().__init__(
                "the first row looks like data, not a header: add the header row; required "
                f"column(s) {_named(missing)} not found. Fix: put the column titles of the "
                "contract in row 1, above the first record"
            )
        else:
            super().__init__(
                f"required column(s) {_named(missing)} not found. "
                "Fix: add the column with the title given in the contract"
            )


class AmbiguousColumns(ValueError):
    def __init__(self, field: FieldSpec, headers: list[str]) -> None:
        shown_headers = " and ".join(f"'{shown(h, HEADER_LIMIT)}'" for h in headers)
        super().__init__(
            f"columns {shown_headers} all mean field {field.name} ({field.title}). "
            "Fix: keep one of these columns"
        )


class StateSecretMarking(ValueError):
    """The file is marked as holding state secrets: it may not enter the platform."""

    rule = "state_secret"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"column '{shown(header, HEADER_LIMIT)}' carries a state-secret classification "
            "marking; no value of this file was read or kept. Fix: state secrets stay outside "
            "the sharing platform (docs/regulation.md#state-secrets): send the extract without "
            "the classified column, through the department's secrecy office if it must be "
            "declassified first"
        )


# GB/T 7156 classification levels and the ★ of a classification mark (e.g. 机密★1年).
SECRECY_MARKS = re.compile(r"绝密|机密|秘密|密级|★")


@dataclass(frozen=True)
class ScopeViolation:
    """A column outside the declared collection scope (values never kept): its header as
    it may be stored (see :func:`shown`) and its position in the file as read."""

    header: str
    non_empty_values: int
    position: int = -1


def declared_only(frame: pd.DataFrame, scope: list[ScopeViolation]) -> pd.DataFrame:
    """The frame as read without its undeclared columns: what quarantine may keep."""
    undeclared = {v.position for v in scope}
    return frame.iloc[:, [i for i in range(frame.shape[1]) if i not in undeclared]]


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


def _fields_named(known: dict[str, str], cells: list[str]) -> int:
    return len({known[label] for label in map(fold, cells) if label in known})


def header_score(contract: Contract) -> Callable[[list[str]], int]:
    """How many of the contract's fields a row's cells name (by name, title or alias): the
    reader takes the first row naming the most as the header, below any title rows."""
    return partial(_fields_named, header_map(contract))


SEPARATORS = {";": "semicolons", "\t": "tabs"}


def delimiter_hint(headers: list[str], contract: Contract) -> str | None:
    """``"semicolons"`` or ``"tabs"`` when the header row came in as one field holding the
    contract's titles split by that character: the file was saved with another delimiter."""
    if len(headers) != 1:
        return None
    known = header_map(contract)
    for separator, name in SEPARATORS.items():
        parts = headers[0].split(separator)
        if len(parts) > 1 and any(fold(p) in known for p in parts):
            return name
    return None


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
            violations.append(ScopeViolation(shown(header, HEADER_LIMIT),
                                             int((values != "").sum()), position))
        elif name in chosen:
            raise AmbiguousColumns(contract.by_name[name], [headers[chosen[name]], header])
        else:
            chosen[name] = position
    missing = [f for f in contract.fields if f.required and f.name not in chosen]
    if missing:
        given = [h for h in headers if h != ROW]
        raise MissingColumns(missing, given, delimiter_hint(given, contract))
    out = pd.DataFrame({ROW: frame[ROW].to_numpy()}, index=frame.index)
    for f in contract.fields:
        if f.name in chosen and not f.from_authority:  # taken from its authority: never kept
            out[f.name] = clean_values(frame.iloc[:, chosen[f.name]])
        else:
            out[f.name] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return out[[*contract.field_names, ROW]], violations
