"""The department scorecard: one static page, inline CSS and SVG, no scripts, no network.

Chinese with English subtitles, for non-engineers: a card per dataset with its
pass-rate chart, then open critical failures, late datasets and scope violations.
The markup is ``templates/scorecard.html.j2`` (autoescaped); this module only
shapes the facts into what the template shows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jinshu.catalog import Contract
from jinshu.govern.scorecard.markup import TEMPLATES, chart_geometry
from jinshu.govern.scorecard.words import CYCLE_WORDS, describe
from jinshu.quality import CRITICAL


def _status(d: dict[str, Any]) -> str:
    if d["latest"] is None:
        return "none"
    if any(f["severity"] == CRITICAL for f in d["failed"]):
        return "critical"
    return "warning" if d["failed"] else "ok"


def _card(d: dict[str, Any], contract: Contract | None) -> dict[str, Any]:
    """One dataset's card: its status, latest pass rate, chart and failed checks."""
    last = d["latest"]
    return {
        **d,
        "status": _status(d),
        "rate": f"{last['pass_rate']:g}%（{last['passed']}/{last['expectations']}）" if last else "—",
        "cycle": CYCLE_WORDS.get(d["update_cycle"] or "", ""),
        "chart": chart_geometry(d["history"]),
        "fails": [{**f, "word": "严重" if f["severity"] == CRITICAL else "警告",
                   "check": describe(f["expectation"], contract)[0],
                   "sample": ", ".join(f["unexpected_sample"])} for f in d["failed"]],
    }


def _overdue(d: dict[str, Any]) -> str:
    return f"{d['late_by'] / timedelta(days=1):.1f} 天 days" if d["late_by"] else "从未收到 never received"


def render_scorecard(facts: dict[str, Any]) -> str:
    """The page for :func:`~jinshu.govern.scorecard.facts.collect`'s facts."""
    contracts: dict[str, Contract] = facts["contracts"]
    datasets = facts["datasets"]
    cards = [_card(d, contracts.get(d["dataset_id"]))
             for d in sorted(datasets, key=lambda d: d["department"])]  # stable sort
    late = [{**d, "cycle": CYCLE_WORDS.get(d["update_cycle"] or "", ""), "overdue": _overdue(d)}
            for d in datasets if d["late"]]
    open_critical = [{**f, "check": describe(f["expectation"], contracts.get(f["dataset_id"]))[0],
                      "sample": ", ".join(f["unexpected_sample"])} for f in facts["open_critical"]]
    tiles = [
        ("good", len(datasets), "数据集", "datasets"),
        ("good", sum(len(d["history"]) for d in datasets), "已校验批次", "batches validated"),
        ("bad" if open_critical else "good", len(open_critical), "未解决严重问题", "open critical failures"),
        ("warn" if late else "good", len(late), "逾期数据集", "late datasets"),
        ("bad" if facts["scope"] else "good", len(facts["scope"]), "超范围采集字段", "undeclared columns"),
    ]
    return TEMPLATES.get_template("scorecard.html.j2").render(
        tiles=[dict(zip(("level", "count", "zh", "en"), t, strict=True)) for t in tiles],
        cards=cards, open_critical=open_critical, late=late, scope=facts["scope"], now=facts["now"])
