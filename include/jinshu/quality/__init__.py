"""Batch quality checks with Great Expectations, derived from the contract.

* :mod:`~jinshu.quality.suites`: the suite format; generate, write, check, load suites;
* :mod:`~jinshu.quality.validation`: the GX context and :func:`validate`;
* :mod:`~jinshu.quality.batch`: row count change and freshness, the batch-level checks;
* :mod:`~jinshu.quality.samples`: masked samples of unexpected values;
* :mod:`~jinshu.quality.results`: :class:`QualityResult` and its summaries;
* :mod:`~jinshu.quality.records`: results stored in ``quality_results`` (a service: touches the store).

GX is imported only when a suite runs, so importing this package stays cheap.
"""

from jinshu.quality.results import QualityResult, critical_failures, summary_line
from jinshu.quality.samples import SAMPLE_SIZE
from jinshu.quality.suites import (
    BATCH_CHECKS,
    CRITICAL,
    DEFAULT_SUITES_DIR,
    FORMAT_CHECKS,
    FRESHNESS,
    ROW_COUNT_CHANGE,
    ROW_COUNT_RATIOS,
    SEVERITIES,
    UPDATE_CYCLES,
    WARNING,
    SuiteError,
    check_suite,
    generate_suite,
    load_suite,
    stale_suites,
    suite_entries,
    suite_path,
    write_suites,
)
from jinshu.quality.validation import gx_context, validate

__all__ = [
    "BATCH_CHECKS", "CRITICAL", "DEFAULT_SUITES_DIR", "FORMAT_CHECKS", "FRESHNESS",
    "ROW_COUNT_CHANGE", "ROW_COUNT_RATIOS", "SAMPLE_SIZE",
    "SEVERITIES", "UPDATE_CYCLES", "WARNING", "QualityResult", "SuiteError", "check_suite",
    "critical_failures", "generate_suite", "gx_context", "load_suite", "stale_suites",
    "suite_entries", "suite_path", "summary_line", "validate", "write_suites",
]
