"""Expectation suites: derived from the contract, kept as JSON beside hand-written extras.

A *suite* is a JSON document per dataset (``expectations/<dataset>.json``)::

    {"dataset": "household_registration",
     "generated": [...],   # derived from the contract by generate_suite(); rewritten freely
     "extra": [...]}       # written by hand; write_suites() never touches it

Each entry is ``{"id", "type", "kwargs", "severity"}``: ``type`` is a GX 1.x
expectation class name (``ExpectColumnValuesToNotBeNull``...), or one of the
two batch-level checks that run in plain Python beside GX
(:mod:`jinshu.quality.batch`):

* ``jinshu.RowCountChange``: the batch has under ``min_ratio`` or over
  ``max_ratio`` times the rows of the dataset's previous batch;
* ``jinshu.Freshness``: the dataset's previous batch is older than its
  ``update_cycle`` allows (``max_age_hours``).

Severity: ``critical`` failures should stop the batch from being published,
``warning`` ones are reported. In kwargs, the string ``{today}`` stands for
the validation date; bounds of a ``between`` on a ``date`` field are dates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinshu.catalog import Contract
from jinshu.settings import SUITES_DIR
from jinshu.vocab.divisions import shanxi_counties
from jinshu.vocab.formats import uscc

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)
DEFAULT_SUITES_DIR = SUITES_DIR

ROW_COUNT_CHANGE = "jinshu.RowCountChange"
FRESHNESS = "jinshu.Freshness"
BATCH_CHECKS = frozenset({ROW_COUNT_CHANGE, FRESHNESS})

_USCC = f"[{uscc.ALPHABET}]"
# The format's shape as a regex (the row rules already check the full format,
# checksum included; these catch anything that slipped past them).
FORMAT_CHECKS: dict[str, tuple[str, str]] = {
    "cn_ric": (r"^[0-9]{17}[0-9X]$", CRITICAL),
    "uscc": (f"^{_USCC}{{2}}[0-9]{{6}}{_USCC}{{10}}$", CRITICAL),
    "mobile": (r"^1[3-9][0-9]{9}$", WARNING),
    "landline": (r"^0[0-9]{2,3}-?[2-9][0-9]{6,7}$", WARNING),
    "postcode": (r"^[0-9]{6}$", WARNING),
}
UPDATE_CYCLES: dict[str, timedelta] = {
    "daily": timedelta(days=1, hours=12),  # a day plus 12 hours' grace
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "quarterly": timedelta(days=92),
    "yearly": timedelta(days=366),
}
ROW_COUNT_RATIOS = (0.5, 1.5)


class SuiteError(ValueError):
    """A suite entry cannot run: unknown type, severity or shape."""


def _entry(id_: str, type_: str, kwargs: dict[str, Any], severity: str) -> dict[str, Any]:
    return {"id": id_, "type": type_, "kwargs": kwargs, "severity": severity}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def generate_suite(contract: Contract) -> dict[str, Any]:
    """The suite the contract implies: ``{"dataset", "generated", "extra": []}``."""
    out: list[dict[str, Any]] = []
    for f in contract.fields:
        col = f.name
        if f.required:
            out.append(_entry(f"{col}.not_null", "ExpectColumnValuesToNotBeNull",
                              {"column": col}, CRITICAL))
        if f.format in FORMAT_CHECKS:
            regex, severity = FORMAT_CHECKS[f.format]
            out.append(_entry(f"{col}.format", "ExpectColumnValuesToMatchRegex",
                              {"column": col, "regex": regex}, severity))
        if f.format == "gb2260_shanxi":
            out.append(_entry(f"{col}.value_set", "ExpectColumnValuesToBeInSet",
                              {"column": col, "value_set": sorted(shanxi_counties())}, CRITICAL))
        elif f.values:
            out.append(_entry(f"{col}.value_set", "ExpectColumnValuesToBeInSet",
                              {"column": col, "value_set": sorted(f.values)}, CRITICAL))
        if f.type in ("integer", "decimal") and (f.minimum is not None or f.maximum is not None):
            bounds = {"column": col}
            if f.minimum is not None:
                bounds["min_value"] = _number(f.minimum)
            if f.maximum is not None:
                bounds["max_value"] = _number(f.maximum)
            out.append(_entry(f"{col}.between", "ExpectColumnValuesToBeBetween", bounds, WARNING))
    key = list(contract.natural_key)
    if len(key) == 1:
        out.append(_entry("natural_key.unique", "ExpectColumnValuesToBeUnique",
                          {"column": key[0]}, CRITICAL))
    else:
        out.append(_entry("natural_key.unique", "ExpectCompoundColumnsToBeUnique",
                          {"column_list": key}, CRITICAL))
    low, high = ROW_COUNT_RATIOS
    out.append(_entry("row_count_change", ROW_COUNT_CHANGE,
                      {"min_ratio": low, "max_ratio": high}, WARNING))
    max_age = UPDATE_CYCLES[contract.update_cycle] / timedelta(hours=1)
    out.append(_entry("freshness", FRESHNESS,
                      {"update_cycle": contract.update_cycle, "max_age_hours": _number(max_age)},
                      WARNING))
    return {"dataset": contract.id, "generated": out, "extra": []}


def suite_path(folder: Path, dataset_id: str) -> Path:
    return Path(folder) / f"{dataset_id}.json"


def _contracts(contracts: Mapping[str, Contract] | Iterable[Contract]) -> list[Contract]:
    values = contracts.values() if isinstance(contracts, Mapping) else contracts
    return sorted(values, key=lambda c: c.id)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _dump(suite: dict[str, Any]) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def write_suites(contracts: Mapping[str, Contract] | Iterable[Contract],
                 folder: Path = DEFAULT_SUITES_DIR) -> list[Path]:
    """Regenerate each suite's ``generated`` part; the hand-written ``extra`` is kept as is."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for contract in _contracts(contracts):
        path = suite_path(folder, contract.id)
        existing = _read(path) or {}
        suite = generate_suite(contract)
        suite["extra"] = existing.get("extra", [])
        check_suite(suite)
        text = _dump(suite)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def stale_suites(contracts: Mapping[str, Contract] | Iterable[Contract],
                 folder: Path = DEFAULT_SUITES_DIR) -> list[str]:
    """Datasets whose committed ``generated`` part no longer matches the contract (for CI)."""
    stale = []
    for contract in _contracts(contracts):
        existing = _read(suite_path(folder, contract.id))
        if existing is None or existing.get("generated") != generate_suite(contract)["generated"]:
            stale.append(contract.id)
    return stale


def load_suite(contract: Contract, folder: Path = DEFAULT_SUITES_DIR) -> dict[str, Any]:
    """The suite to run: generated from the contract (its single source of truth) plus the
    committed file's hand-written ``extra`` entries, if the file exists."""
    suite = generate_suite(contract)
    existing = _read(suite_path(folder, contract.id))
    if existing:
        suite["extra"] = existing.get("extra", [])
    check_suite(suite)
    return suite


def suite_entries(suite: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*suite.get("generated", []), *suite.get("extra", [])]


def check_suite(suite: Mapping[str, Any]) -> None:
    """Raise :class:`SuiteError` for an entry that cannot run."""
    seen: set[str] = set()
    for entry in suite_entries(suite):
        missing = {"id", "type", "kwargs", "severity"} - set(entry)
        if missing:
            raise SuiteError(f"suite {suite.get('dataset')}: entry {entry} lacks {sorted(missing)}")
        if entry["id"] in seen:
            raise SuiteError(f"suite {suite.get('dataset')}: id '{entry['id']}' is used twice")
        seen.add(entry["id"])
        if entry["severity"] not in SEVERITIES:
            raise SuiteError(f"suite {suite.get('dataset')}, '{entry['id']}': severity must be "
                             f"one of {SEVERITIES}")
        if entry["type"] not in BATCH_CHECKS and not entry["type"].startswith("Expect"):
            raise SuiteError(f"suite {suite.get('dataset')}, '{entry['id']}': unknown type "
                             f"'{entry['type']}' (a GX expectation class name or one of "
                             f"{sorted(BATCH_CHECKS)})")
