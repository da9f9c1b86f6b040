"""The quality report for ``--json`` and the terminal: the scorecard's facts as data and text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern.report import text_table
from jinshu.govern.scorecard.facts import collect
from jinshu.quality import CRITICAL


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def quality_summary(engine: Engine, contracts: Mapping[str, Contract],
                    now: datetime | None = None) -> dict[str, Any]:
    """JSON-ready: per dataset the latest batch's pass rate and failures, late datasets,
    open critical failures and scope violations."""
    facts = collect(engine, contracts, now)
    datasets = []
    for d in facts["datasets"]:
        last = d["latest"] or {}
        datasets.append({
            "dataset_id": d["dataset_id"], "department": d["department"],
            "update_cycle": d["update_cycle"],
            "latest_batch": last.get("batch_id"), "validated_at": _iso(last.get("validated_at")),
            "expectations": last.get("expectations", 0), "passed": last.get("passed", 0),
            "pass_rate": last.get("pass_rate"),
            "critical_failed": [f["expectation"] for f in d["failed"] if f["severity"] == CRITICAL],
            "warnings_failed": [f["expectation"] for f in d["failed"] if f["severity"] != CRITICAL],
            "batches_validated": len(d["history"]),
            "last_received": _iso(d["last_received"]), "late": d["late"],
        })
    return {
        "generated_at": _iso(facts["now"]),
        "datasets": datasets,
        "open_critical": [{
            "dataset_id": f["dataset_id"], "batch_id": f["batch_id"], "expectation": f["expectation"],
            "observed_value": f["observed_value"], "unexpected_count": f["unexpected_count"],
            "unexpected_sample": f["unexpected_sample"],
        } for f in facts["open_critical"]],
        "late": [d["dataset_id"] for d in datasets if d["late"]],
        "scope_violations": [{**s, "last_seen": _iso(s["last_seen"])} for s in facts["scope"]],
    }


def render_quality_text(engine: Engine, contracts: Mapping[str, Contract],
                        now: datetime | None = None) -> str:
    summary = quality_summary(engine, contracts, now)
    rows = []
    for d in summary["datasets"]:
        passed = f"{d['passed']}/{d['expectations']}" if d["latest_batch"] else "-"
        rows.append([d["department"], d["dataset_id"], (d["validated_at"] or "-")[:19], passed,
                     ", ".join(d["critical_failed"]) or "-", ", ".join(d["warnings_failed"]) or "-",
                     "LATE" if d["late"] else "ok"])
    text = [text_table(["department", "dataset", "validated", "passed", "critical", "warnings",
                        "fresh"], rows)]
    if summary["open_critical"]:
        text.append("\nOpen critical failures (latest batch per dataset):")
        text.append(text_table(
            ["dataset", "batch", "expectation", "observed", "sample"],
            [[f["dataset_id"], f["batch_id"], f["expectation"], f["observed_value"] or "",
              ", ".join(f["unexpected_sample"])] for f in summary["open_critical"]]))
    if summary["scope_violations"]:
        text.append("\nScope violations (undeclared columns):")
        text.append(text_table(
            ["department", "dataset", "column", "batches", "values"],
            [[s["department"], s["dataset_id"], s["column_header"], str(s["batches"]),
              str(s["non_empty_values"])] for s in summary["scope_violations"]]))
    return "\n".join(text)
