"""采集管控 Collection control: columns outside the declared scope (counted, never kept) and
the consent gate's values kept and dropped, per department and per field."""

from __future__ import annotations

from typing import Any

from jinshu.govern.report import collection_report
from jinshu.ui.registry import Page
from jinshu.ui.view import View


def query(view: View) -> dict[str, Any]:
    with view.engine.connect() as conn:
        report = collection_report(conn)
    fields = report["consent_fields"]
    return {**report, "kept": sum(int(f["kept"] or 0) for f in fields),
            "dropped": sum(int(f["dropped"] or 0) for f in fields),
            "violations": sum(int(s["batches"] or 0) for s in report["scope_violations"])}


PAGE = Page(slug="collection", zh="采集管控", en="Collection control", order=30, query=query)
