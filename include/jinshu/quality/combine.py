"""A file's quality results from its chunks' (GX runs once per chunk, in bounded memory).

Every expectation the suites use is checked value by value (not null, in a set, a regex,
between bounds, unique within the records validated), so a file's result is its chunks'
added up: unexpected and element counts summed, samples pooled, and success recomputed
from the sums where an expectation passes on a share (``mostly``); otherwise it succeeds
when every chunk does. A critical expectation without ``mostly`` that fails in one chunk
fails the file whatever the others hold: that chunk quarantines the file at once
(:func:`decided_failures`). Uniqueness holds across chunks because the load sets aside a
natural key sent with different values in two chunks (:mod:`jinshu.repeat.dedup`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from jinshu.quality.results import QualityResult
from jinshu.quality.samples import SAMPLE_SIZE
from jinshu.quality.suites import CRITICAL

NOT_NULL = "ExpectColumnValuesToNotBeNull"  # its nulls are its unexpected values, not missing ones


def decided_failures(results: Iterable[QualityResult]) -> list[QualityResult]:
    """Critical failures of one chunk that fail the whole file (no share can make up for them)."""
    return [r for r in results
            if not r.success and r.severity == CRITICAL and "mostly" not in r.kwargs]


def combine(chunks: list[list[QualityResult]]) -> list[QualityResult]:
    """One result per expectation (in the first chunk's order) from every chunk's results."""
    if not chunks:
        return []
    return [_combined([chunk[i] for chunk in chunks]) for i in range(len(chunks[0]))]


def _combined(results: list[QualityResult]) -> QualityResult:
    first = results[0]
    errors = [r for r in results if (r.observed_value or "").startswith("error:")]
    if len(results) == 1:
        return first
    unexpected = sum(r.unexpected_count for r in results)
    counts = [r.element_count for r in results]
    total = sum(counts) if None not in counts else None
    missing = sum(r.missing_count or 0 for r in results)
    success = all(r.success for r in results)
    mostly = first.kwargs.get("mostly")
    if mostly is not None and total is not None and not errors:
        domain = total if first.expectation_type == NOT_NULL else total - missing
        success = domain == 0 or (domain - unexpected) / domain >= float(mostly)
    if errors:
        observed, success = errors[0].observed_value, False
    elif total is not None and _counted(first.observed_value):
        observed = f"{unexpected}/{total} unexpected ({100 * unexpected / total if total else 0:.2f}%)"
    else:
        observed = next((r.observed_value for r in results if not r.success), first.observed_value)
    samples = list(dict.fromkeys(s for r in results for s in r.unexpected_sample))[:SAMPLE_SIZE]
    return replace(first, success=success, observed_value=observed, unexpected_count=unexpected,
                   unexpected_sample=samples, element_count=total, missing_count=missing)


def _counted(observed: str | None) -> bool:
    """The observed value is the count of unexpected values (not a statistic of the column)."""
    return observed is None or " unexpected (" in observed
