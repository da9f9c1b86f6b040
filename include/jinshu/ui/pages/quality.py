"""数据质量 Quality: per dataset the latest batch's pass rate, its chart over batches and the
checks that failed (masked samples), with links to the scorecard and GX Data Docs."""

from __future__ import annotations

from typing import Any

from jinshu.govern.scorecard import chart_svg, collect
from jinshu.govern.scorecard.page import _card
from jinshu.ui.registry import Page
from jinshu.ui.view import View


def query(view: View) -> dict[str, Any]:
    facts = collect(view.engine, view.contracts, view.now)
    cards = []
    for d in sorted(facts["datasets"], key=lambda d: (d["department"], d["dataset_id"])):
        card = _card(d, view.contracts.get(d["dataset_id"]))
        cards.append({**card, "svg": chart_svg(d["history"])})
    return {"cards": cards, "validated": sum(len(d["history"]) for d in facts["datasets"]),
            "open_critical": len(facts["open_critical"]), "late": sum(d["late"] for d in facts["datasets"])}


PAGE = Page(slug="quality", zh="数据质量", en="Quality", order=50, query=query)
