"""Batch quality checks with Great Expectations, derived from the contract.

A *suite* is a JSON document per dataset (``expectations/<dataset>.json``)::

    {"dataset": "household_registration",
     "generated": [...],   # derived from the contract by generate_suite(); rewritten freely
     "extra": [...]}       # written by hand; write_suites() never touches it

Each entry is ``{"id", "type", "kwargs", "severity"}``: ``type`` is a GX 1.x
expectation class name (``ExpectColumnValuesToNotBeNull``...), or one of the
two batch-level checks that run in plain Python beside GX:

* ``jinshu.RowCountChange``: the batch has under ``min_ratio`` or over
  ``max_ratio`` times the rows of the dataset's previous batch;
* ``jinshu.Freshness``: the dataset's previous batch is older than its
  ``update_cycle`` allows (``max_age_hours``).

Severity: ``critical`` failures should stop the batch from being published,
``warning`` ones are reported. In kwargs, the string ``{today}`` stands for
the validation date; bounds of a ``between`` on a ``date`` field are dates.

Results never carry a raw personal value: samples of unexpected values from a
personal, sensitive-personal or trade-secret field pass through the field's
mask (:func:`jinshu.mask.apply`) before they leave :func:`validate`.

GX is imported inside the functions that run it (it takes seconds to import),
so importing this module stays cheap for DAG parsing and the CLI.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu import mask
from jinshu.catalog import Contract, FieldSpec
from jinshu.divisions import shanxi_counties
from jinshu.formats import uscc

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)
MASKED_SENSITIVITY = frozenset({"personal", "sensitive_personal", "trade_secret"})
SAMPLE_SIZE = 5
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SUITES_DIR = ROOT / "expectations"

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
# Expectations that compare values by order: numeric and date columns are cast for them.
_ORDERED = frozenset({
    "ExpectColumnValuesToBeBetween", "ExpectColumnMinToBeBetween", "ExpectColumnMaxToBeBetween",
    "ExpectColumnMeanToBeBetween", "ExpectColumnMedianToBeBetween", "ExpectColumnSumToBeBetween",
    "ExpectColumnValuesToBeIncreasing", "ExpectColumnValuesToBeDecreasing",
})
_SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1}


class SuiteError(ValueError):
    """A suite entry cannot run: unknown type, severity or shape."""


@dataclass(frozen=True)
class QualityResult:
    expectation: str  # the entry's id, e.g. "id_number.not_null"
    severity: str
    success: bool
    observed_value: str | None = None
    unexpected_count: int = 0
    unexpected_sample: list[str] = field(default_factory=list)  # masked, at most 5
    expectation_type: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    element_count: int | None = None


# --- suites ------------------------------------------------------------------------------


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


# --- validation --------------------------------------------------------------------------


def _quiet_gx() -> None:
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)


def gx_context(mode: str = "ephemeral", **kwargs: Any):
    """A GX context with analytics and progress bars off and its logging quiet."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode=mode, **kwargs)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.config.analytics_enabled = False
    return context


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    cols = [kwargs["column"]] if "column" in kwargs else []
    for key in ("column_list", "column_A", "column_B"):
        value = kwargs.get(key)
        if isinstance(value, list):
            cols.extend(value)
        elif isinstance(value, str):
            cols.append(value)
    return cols


def _resolve(value: Any, today: date, as_date: bool) -> Any:
    if isinstance(value, str) and "{today}" in value:
        value = value.replace("{today}", today.isoformat())
    if as_date and isinstance(value, str):
        return pd.Timestamp(value)
    return value


def _prepared(frame: pd.DataFrame, contract: Contract, entries: list[dict[str, Any]],
              today: date) -> tuple[pd.DataFrame, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Cast the numeric and date columns that ordered comparisons need; resolve kwargs."""
    casts: dict[str, pd.Series] = {}
    resolved = []
    for entry in entries:
        kwargs = dict(entry["kwargs"])
        as_date = False
        if entry["type"] in _ORDERED:
            col = kwargs.get("column")
            spec = contract.by_name.get(col) if col else None
            if spec is not None and col in frame.columns and col not in casts:
                if spec.type in ("integer", "decimal"):
                    casts[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
                elif spec.type == "date":
                    # [ns]: GX compares only nanosecond datetimes vectorized (pandas 3 parses to [us])
                    casts[col] = pd.to_datetime(frame[col], format="%Y-%m-%d",
                                                errors="coerce").astype("datetime64[ns]")
            as_date = spec is not None and spec.type == "date"
        kwargs = {k: _resolve(v, today, as_date and k in ("min_value", "max_value"))
                  for k, v in kwargs.items()}
        resolved.append((entry, kwargs))
    return (frame.assign(**casts) if casts else frame), resolved


def _plain(value: Any) -> str:
    if isinstance(value, pd.Timestamp | datetime):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _masker(contract: Contract):
    """A function masking a list of raw values from one column, as the column requires."""
    def masked(column: str, values: list[Any]) -> list[str]:
        texts = [_plain(v) for v in values]
        spec: FieldSpec | None = contract.by_name.get(column)
        if spec is None:  # not a contract field: show nothing of it
            return ["***"] * len(texts)
        if spec.sensitivity not in MASKED_SENSITIVITY or not texts:
            return texts
        return mask.apply(spec.mask_kind, pd.Series(texts, dtype="str")).tolist()
    return masked


def _sample(raw: list[Any], columns: list[str], masked) -> list[str]:
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


def _exception_message(info: Any) -> str | None:
    """GX's exception info is either flat or keyed by metric; the first message raised."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _gx_results(frame: pd.DataFrame, contract: Contract,
                resolved: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[QualityResult]:
    import great_expectations as gx

    context = gx_context()
    batch = (context.data_sources.add_pandas("jinshu")
             .add_dataframe_asset(contract.id)
             .add_batch_definition_whole_dataframe("batch"))
    suite = context.suites.add(gx.ExpectationSuite(name=contract.id))
    for entry, kwargs in resolved:
        cls = getattr(gx.expectations, entry["type"], None)
        if cls is None:
            raise SuiteError(f"suite {contract.id}, '{entry['id']}': GX has no expectation "
                             f"'{entry['type']}'")
        suite.add_expectation(cls(**kwargs, meta={"id": entry["id"]}))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{contract.id}-{uuid.uuid4().hex[:8]}", data=batch, suite=suite))
    run = definition.run(batch_parameters={"dataframe": frame},
                         result_format={"result_format": "SUMMARY",
                                        "partial_unexpected_count": SAMPLE_SIZE * 4})
    masked = _masker(contract)
    by_id: dict[str, QualityResult] = {}
    entries = {entry["id"]: (entry, kwargs) for entry, kwargs in resolved}
    for res in run.results:
        id_ = (res.expectation_config.meta or {}).get("id")
        entry, kwargs = entries[id_]
        result = res.result or {}
        columns = _columns_of(entry["kwargs"])
        error = _exception_message(res.exception_info)
        count = int(result.get("unexpected_count") or 0)
        total = result.get("element_count")
        if error:
            observed = f"error: {error}"[:300]
        elif "observed_value" in result:
            observed = masked(columns[0], [result["observed_value"]])[0] if columns else \
                _plain(result["observed_value"])
        elif total is not None:
            observed = f"{count}/{total} unexpected ({100 * count / total if total else 0:.2f}%)"
        else:
            observed = None
        by_id[id_] = QualityResult(
            expectation=id_, severity=entry["severity"], success=bool(res.success) and not error,
            observed_value=observed, unexpected_count=count,
            kwargs={k: _plain(v) if isinstance(v, pd.Timestamp) else v for k, v in kwargs.items()},
            unexpected_sample=_sample(result.get("partial_unexpected_list") or [], columns, masked),
            expectation_type=entry["type"], element_count=int(total) if total is not None else None,
        )
    return [by_id[entry["id"]] for entry, _ in resolved]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _batch_check(entry: dict[str, Any], rows: int, previous_rows: int | None,
                 previous_batch_at: datetime | None, now: datetime) -> QualityResult:
    kwargs = entry["kwargs"]
    common = {"expectation": entry["id"], "severity": entry["severity"],
              "expectation_type": entry["type"], "kwargs": kwargs, "element_count": rows}
    if entry["type"] == ROW_COUNT_CHANGE:
        if not previous_rows:
            return QualityResult(success=True, observed_value=f"{rows} rows (no previous batch)",
                                 **common)
        ratio = rows / previous_rows
        ok = kwargs.get("min_ratio", 0.5) <= ratio <= kwargs.get("max_ratio", 1.5)
        return QualityResult(success=ok, observed_value=(
            f"{rows} rows vs {previous_rows} in the previous batch ({ratio:.0%})"), **common)
    if previous_batch_at is None:
        return QualityResult(success=True, observed_value="no previous batch", **common)
    age = _aware(now) - _aware(previous_batch_at)
    limit = timedelta(hours=kwargs.get("max_age_hours", 36))
    days = age / timedelta(days=1)
    cycle = kwargs.get("update_cycle")
    allowed = f"{limit / timedelta(days=1):g} days" + (f", {cycle}" if cycle else "")
    return QualityResult(success=age <= limit, observed_value=(
        f"previous batch {days:.1f} days earlier (allowed {allowed})"), **common)


def validate(frame: pd.DataFrame, contract: Contract, suite: Mapping[str, Any],
             previous_rows: int | None, previous_batch_at: datetime | None,
             now: datetime) -> list[QualityResult]:
    """Run the suite on one batch (one row per distinct record, ``str`` columns, NA missing).

    ``previous_rows``/``previous_batch_at``: the dataset's previous batch, None if none.
    Results come in suite order; samples are masked.
    """
    check_suite(suite)
    entries = suite_entries(suite)
    batch_entries = [e for e in entries if e["type"] in BATCH_CHECKS]
    gx_entries = [e for e in entries if e["type"] not in BATCH_CHECKS]
    results: dict[str, QualityResult] = {}
    if gx_entries:
        prepared, resolved = _prepared(frame, contract, gx_entries, _aware(now).date())
        results.update((r.expectation, r) for r in _gx_results(prepared, contract, resolved))
    for entry in batch_entries:
        results[entry["id"]] = _batch_check(entry, len(frame), previous_rows, previous_batch_at, now)
    return [results[e["id"]] for e in entries]


def critical_failures(results: Iterable[QualityResult]) -> list[QualityResult]:
    return [r for r in results if not r.success and r.severity == CRITICAL]


def summary_line(results: list[QualityResult]) -> str:
    """``12/14 passed; critical: id_number.not_null; warning: freshness``."""
    failed = sorted((r for r in results if not r.success),
                    key=lambda r: (_SEVERITY_ORDER.get(r.severity, 9), r.expectation))
    parts = [f"{len(results) - len(failed)}/{len(results)} passed"]
    for severity in SEVERITIES:
        ids = [r.expectation for r in failed if r.severity == severity]
        if ids:
            parts.append(f"{severity}: {', '.join(ids)}")
    return "; ".join(parts)


# --- storage -----------------------------------------------------------------------------

metadata = sa.MetaData()

quality_results = sa.Table(
    "quality_results", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("batch_id", sa.String(96), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("expectation", sa.String(128), nullable=False),
    sa.Column("expectation_type", sa.String(96), nullable=False, default=""),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("observed_value", sa.Text),
    sa.Column("element_count", sa.BigInteger),
    sa.Column("unexpected_count", sa.BigInteger, nullable=False, default=0),
    sa.Column("unexpected_sample", sa.Text, nullable=False, default="[]"),  # JSON, masked
    sa.Column("kwargs", sa.Text, nullable=False, default="{}"),  # JSON, for Data Docs
    sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("batch_id", "expectation", name="uq_quality_results_batch_expectation"),
    sa.Index("ix_quality_results_dataset_time", "dataset_id", "validated_at"),
    comment="One row per expectation per validated batch (grain: batch_id, expectation)",
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


def store_results(conn: Connection, batch_id: str, dataset_id: str,
                  results: Iterable[QualityResult], now: datetime) -> int:
    """Replace the batch's stored results (a retried batch is validated again)."""
    rows = [{
        "batch_id": batch_id, "dataset_id": dataset_id, "expectation": r.expectation,
        "expectation_type": r.expectation_type, "severity": r.severity, "success": bool(r.success),
        "observed_value": r.observed_value, "element_count": r.element_count,
        "unexpected_count": int(r.unexpected_count),
        "unexpected_sample": json.dumps(list(r.unexpected_sample)[:SAMPLE_SIZE], ensure_ascii=False),
        "kwargs": json.dumps(r.kwargs, ensure_ascii=False, default=str),
        "validated_at": now,
    } for r in results]
    conn.execute(quality_results.delete().where(quality_results.c.batch_id == batch_id))
    if rows:
        conn.execute(quality_results.insert(), rows)
    return len(rows)


def previous_batch(conn: Connection, dataset_id: str, batch_id: str) -> tuple[int | None, datetime | None]:
    """Row count and receipt time of the dataset's latest loaded batch before ``batch_id``.

    Reads ``jinshu.store.batches`` (``stored`` rows, ``received_at``), for the two batch checks.
    """
    from jinshu.store import batches

    current = sa.select(batches.c.received_at).where(batches.c.batch_id == batch_id).scalar_subquery()
    row = conn.execute(
        sa.select(batches.c.stored, batches.c.received_at)
        .where(batches.c.dataset_id == dataset_id, batches.c.batch_id != batch_id,
               batches.c.status == "loaded", batches.c.received_at <= sa.func.coalesce(
                   current, batches.c.received_at))
        .order_by(batches.c.received_at.desc()).limit(1)
    ).first()
    return (int(row.stored), row.received_at) if row else (None, None)
