"""Run a suite on one batch: GX for the expectations, plain Python for the batch checks.

GX is imported inside the functions that run it (it takes seconds to import),
so importing :mod:`jinshu.quality` stays cheap for DAG parsing and the CLI.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

from jinshu.catalog import Contract
from jinshu.quality.batch import aware, batch_check
from jinshu.quality.results import QualityResult
from jinshu.quality.samples import SAMPLE_SIZE, masker, plain, sample
from jinshu.quality.suites import BATCH_CHECKS, SuiteError, check_suite, suite_entries

# Expectations that compare values by order: numeric and date columns are cast for them.
_ORDERED = frozenset({
    "ExpectColumnValuesToBeBetween", "ExpectColumnMinToBeBetween", "ExpectColumnMaxToBeBetween",
    "ExpectColumnMeanToBeBetween", "ExpectColumnMedianToBeBetween", "ExpectColumnSumToBeBetween",
    "ExpectColumnValuesToBeIncreasing", "ExpectColumnValuesToBeDecreasing",
})


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


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _definition(contract_id: str, resolved: list[tuple[dict[str, Any], dict[str, Any]]]):
    """A GX validation definition of the resolved suite, over any pandas frame.

    Built once per process and suite (a chunked file validates one chunk after another:
    the context, datasource and suite cost more than a small chunk's validation).
    """
    key = json.dumps([contract_id, resolved], sort_keys=True, default=str)
    if key not in _DEFINITIONS:
        _DEFINITIONS.clear()  # one suite at a time (a suite's dates change daily)
        _DEFINITIONS[key] = _new_definition(contract_id, resolved)
    return _DEFINITIONS[key]


_DEFINITIONS: dict[str, Any] = {}


def _new_definition(contract_id: str, resolved: list[tuple[dict[str, Any], dict[str, Any]]]):
    import great_expectations as gx
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints each pandas batch (an MD5 over a hash of every cell) for its batch
    # markers, which nothing here reads: a third of a chunk's validation, skipped.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx_context()
    batch = (context.data_sources.add_pandas("jinshu")
             .add_dataframe_asset(contract_id)
             .add_batch_definition_whole_dataframe("batch"))
    suite = context.suites.add(gx.ExpectationSuite(name=contract_id))
    for entry, kwargs in resolved:
        cls = getattr(gx.expectations, entry["type"], None)
        if cls is None:
            raise SuiteError(f"suite {contract_id}, '{entry['id']}': GX has no expectation "
                             f"'{entry['type']}'")
        suite.add_expectation(cls(**kwargs, meta={"id": entry["id"]}))
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{contract_id}-{uuid.uuid4().hex[:8]}", data=batch, suite=suite))


def _gx_results(frame: pd.DataFrame, contract: Contract,
                resolved: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[QualityResult]:
    definition = _definition(contract.id, resolved)
    run = definition.run(batch_parameters={"dataframe": frame},
                         result_format={"result_format": "SUMMARY",
                                        "partial_unexpected_count": SAMPLE_SIZE * 4})
    masked = masker(contract)
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
                plain(result["observed_value"])
        elif total is not None:
            observed = f"{count}/{total} unexpected ({100 * count / total if total else 0:.2f}%)"
        else:
            observed = None
        by_id[id_] = QualityResult(
            expectation=id_, severity=entry["severity"], success=bool(res.success) and not error,
            observed_value=observed, unexpected_count=count,
            kwargs={k: plain(v) if isinstance(v, pd.Timestamp) else v for k, v in kwargs.items()},
            unexpected_sample=sample(result.get("partial_unexpected_list") or [], columns, masked),
            expectation_type=entry["type"], element_count=int(total) if total is not None else None,
            missing_count=_count(result.get("missing_count")),
        )
    return [by_id[entry["id"]] for entry, _ in resolved]


def validate(frame: pd.DataFrame, contract: Contract, suite: Mapping[str, Any],
             previous_rows: int | None, previous_batch_at: datetime | None,
             now: datetime) -> list[QualityResult]:
    """Run the suite on one batch (one row per distinct record, ``str`` columns, NA missing).

    ``previous_rows``/``previous_batch_at``: the dataset's previous batch, None if none.
    Results come in suite order; samples are masked.
    """
    results = {r.expectation: r for r in validate_records(frame, contract, suite, now)}
    results.update((r.expectation, r) for r in batch_results(suite, len(frame), previous_rows,
                                                             previous_batch_at, now))
    return [results[e["id"]] for e in suite_entries(suite)]


def validate_records(frame: pd.DataFrame, contract: Contract, suite: Mapping[str, Any],
                     now: datetime) -> list[QualityResult]:
    """The suite's GX expectations on ``frame`` (a batch, or one chunk of it), in suite order."""
    check_suite(suite)
    gx_entries = [e for e in suite_entries(suite) if e["type"] not in BATCH_CHECKS]
    if not gx_entries:
        return []
    prepared, resolved = _prepared(frame, contract, gx_entries, aware(now).date())
    return _gx_results(prepared, contract, resolved)


def batch_results(suite: Mapping[str, Any], rows: int, previous_rows: int | None,
                  previous_batch_at: datetime | None, now: datetime) -> list[QualityResult]:
    """The suite's two batch checks on a whole batch of ``rows`` distinct records."""
    return [batch_check(entry, rows, previous_rows, previous_batch_at, now)
            for entry in suite_entries(suite) if entry["type"] in BATCH_CHECKS]
