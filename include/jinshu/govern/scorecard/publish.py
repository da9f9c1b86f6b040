"""Build both reports and replace the previous ones, unless the leak guard finds a raw identifier.

Both pages pass the leak guard before they replace the previous ones (Data
Docs are built in a staging folder first): a raw identifier keeps the
previous page, is audited (``report_blocked``) and raises ``LeakFound``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.govern.scorecard.docs import build_data_docs
from jinshu.govern.scorecard.facts import collect
from jinshu.govern.scorecard.page import render_scorecard
from jinshu.protect import leakguard

log = logging.getLogger(__name__)


def build_reports(engine: Engine, out_dir: Path, contracts: Mapping[str, Contract],
                  now: datetime | None = None) -> dict[str, Path]:
    """``{"scorecard": out_dir/scorecard.html, "data_docs": out_dir/data-docs/index.html}``.

    ``data_docs`` is missing (and the error logged) if GX fails to render the docs. A
    report carrying a raw identifier is not written (the previous one stays): after the
    other is built, ``report_blocked`` is audited and ``LeakFound`` raised.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    facts = collect(engine, contracts, now)
    scorecard = out_dir / "scorecard.html"
    paths, leaks = {}, []
    try:
        page = render_scorecard(facts).encode("utf-8")
        leakguard.guard(str(scorecard), page)
        staged = scorecard.with_name(f".{scorecard.name}.part")
        staged.write_bytes(page)
        staged.replace(scorecard)
        paths["scorecard"] = scorecard
    except leakguard.LeakFound as leak:
        leaks.append(leak)
    try:
        paths["data_docs"] = build_data_docs(engine, out_dir, contracts)
    except leakguard.LeakFound as leak:
        leaks.append(leak)
    except Exception:  # the scorecard stands on its own; say why the docs are missing
        log.exception("GX Data Docs could not be built; the scorecard was written")
    if leaks:
        with engine.begin() as conn:
            for leak in leaks:
                log.error("report not written: %s", leak)
                audit.append(conn, "report_blocked", "quality",
                             {"artifact": leak.artifact, "hits": len(leak.hits),
                              "kinds": sorted({h.kind for h in leak.hits})}, now=now)
        raise leaks[0]
    return paths
