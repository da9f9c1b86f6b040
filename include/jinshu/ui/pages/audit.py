"""审计日志 The audit log: search by action, actor, subject or words in the details, and
verify the hash chain (against the newest head published outside the store)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jinshu.govern import audit
from jinshu.store.objects import open_store
from jinshu.store.tables import audit_log
from jinshu.ui.registry import Page
from jinshu.ui.view import View

ROWS = 200  # entries shown, newest first


def search(view: View, action: str = "", actor: str = "", subject: str = "",
           text: str = "") -> dict[str, Any]:
    a = audit_log.c
    where = [a.action == action] if action else []
    where += [a.actor.contains(actor, autoescape=True)] if actor else []
    where += [a.subject.contains(subject, autoescape=True)] if subject else []
    where += [a.details.contains(text, autoescape=True)] if text else []
    with view.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(*where).order_by(a.seq.desc()).limit(ROWS)).all()
        matches = conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where)).scalar_one()
        actions = conn.execute(sa.select(a.action).distinct().order_by(a.action)).scalars().all()
    return {"entries": rows, "matches": matches, "actions": actions,
            "filters": {"action": action, "actor": actor, "subject": subject, "text": text}}


def verification(view: View) -> dict[str, Any]:
    """The chain walked under the audit key, against the newest published head."""
    settings = view.settings
    try:
        anchor = audit.published_head(open_store(settings.heads_url, settings.s3_endpoint_url))
        with view.engine.connect() as conn:
            verdict = audit.verify(conn, anchor)
    except Exception as error:  # a missing or wrong key: say so instead of failing the page
        return {"checked": False, "error": type(error).__name__, "message": str(error)}
    return {"checked": True, "intact": verdict.intact, "entries": verdict.entries,
            "first_broken": verdict.first_broken, "reason": verdict.reason, "anchor": anchor}


FILTERS = ("action", "actor", "subject", "text")


def query(view: View) -> dict[str, Any]:
    """The search the page's form asks for (its fields are the query parameters)."""
    filters = {k: view.params.get(k, "").strip()[:100] for k in FILTERS}
    return {**search(view, **filters), "verdict": verification(view)}


PAGE = Page(slug="audit", zh="审计日志", en="Audit log", order=90, query=query)
