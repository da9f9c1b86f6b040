"""重复采集 Repeat collection across departments: department pairs, concepts, subjects
collected twice and conflicting values, as the ``repeat_collection`` DAG found them
(:mod:`jinshu.repeat.detect`)."""

from __future__ import annotations

from typing import Any

from jinshu.ui import tables
from jinshu.ui.registry import Page
from jinshu.ui.view import View

TABLE = "repeat_findings"  # one row per department pair, concept and detection run
CONFLICTS = "conflicts"  # its column counting subjects whose values disagree


def query(view: View) -> dict[str, Any]:
    return {"findings": tables.newest(view, TABLE)}


def conflicts_per_day(view: View) -> dict[str, float] | None:
    """Conflicts found per day, for the cockpit; None until the table exists."""
    return tables.per_day(view, TABLE, CONFLICTS)


PAGE = Page(slug="repeat", zh="重复采集", en="Repeat collection", order=40, query=query,
            template="table_page.html.j2")
