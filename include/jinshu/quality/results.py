"""Quality results: one per suite entry per batch, and how they are summarized."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jinshu.quality.suites import CRITICAL, SEVERITIES, WARNING

_SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1}


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
    missing_count: int | None = None  # missing values among ``element_count`` (not stored)


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
