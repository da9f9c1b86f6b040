"""Pages to HTML: Jinja2 with autoescape, then the leak guard over the whole page.

Every value is escaped on output; text that came from outside (file names,
reasons, audit details) goes through :func:`jinshu.protect.leakguard.shown`
(identifiers masked, control characters escaped) with the ``shown`` filter; and
a rendered page carrying a raw identifier anyway is not sent
(:class:`~jinshu.protect.leakguard.LeakFound`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from jinshu.protect import leakguard


def when(moment: Any) -> str:
    """``2026-12-03 08:00 UTC`` from a datetime (either driver) or ISO text; a dash for none.

    >>> when(datetime(2026, 12, 3, 8, 0, tzinfo=UTC)), when("2026-12-03T08:00:00+00:00"), when(None)
    ('2026-12-03 08:00 UTC', '2026-12-03 08:00 UTC', '—')
    """
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if isinstance(moment, datetime):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(moment, date):
        return moment.isoformat()
    return str(moment)


def number(value: Any) -> str:
    """``12,345``; a dash for none.

    >>> number(12345), number(None), number(97.5)
    ('12,345', '—', '97.5')
    """
    if value is None:
        return "—"
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


TEMPLATES = Environment(loader=PackageLoader("jinshu.ui", "templates"), autoescape=True,
                        undefined=StrictUndefined, finalize=_blank_none, trim_blocks=True,
                        lstrip_blocks=True)
TEMPLATES.filters.update(when=when, number=number, shown=lambda text, limit=120: leakguard.shown(
    "" if text is None else str(text), limit))


def render(template: str | Template, artifact: str, **context: Any) -> str:
    """The page, or :class:`~jinshu.protect.leakguard.LeakFound` if it carries a raw identifier."""
    html = (TEMPLATES.get_template(template) if isinstance(template, str) else template).render(**context)
    leakguard.guard(artifact, html.encode("utf-8"))
    return html
