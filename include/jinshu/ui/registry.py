"""The page registry: every module in :mod:`jinshu.ui.pages` with a ``PAGE`` is a page.

A page is one small module and one template: its ``PAGE`` names the slug (its
URL under ``/jinshu/governance/``), its Chinese and English titles, its
template, and its query function, which reads the store through the
:class:`~jinshu.ui.view.View` and returns what the template shows. Pages for
tables another branch adds list them in ``tables``: until every one exists the
page shows an empty state (no query runs), and it lights up once they do.
Actions (forms that change something) are routes of the app, each calling a
service that audits it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinshu.ui.view import View

PAGES_PACKAGE = "jinshu.ui.pages"


@dataclass(frozen=True)
class Page:
    slug: str  # /jinshu/governance/<slug>
    zh: str
    en: str
    order: int  # place in the navigation
    query: Callable[[View], dict[str, Any]]
    template: str = ""  # default: <slug>.html.j2
    tables: tuple[str, ...] = ()  # feature detection: the page waits for these tables
    pending: str = ""  # what lights it up, shown in the empty state (zh, en in one line)
    detail: Callable[[View, str], dict[str, Any]] | None = None  # /<slug>/<key>, e.g. a batch
    top_level: bool = False  # its own entry in Airflow's top navigation

    @property
    def template_name(self) -> str:
        return self.template or f"{self.slug}.html.j2"

    def ready(self, view: View) -> bool:
        return all(view.has_table(t) for t in self.tables)


@cache
def pages() -> tuple[Page, ...]:
    """Every page, in navigation order."""
    pages_package = importlib.import_module(PAGES_PACKAGE)  # by name: pages import this module
    found = []
    for info in pkgutil.iter_modules(pages_package.__path__):
        module = importlib.import_module(f"{pages_package.__name__}.{info.name}")
        page = getattr(module, "PAGE", None)
        if isinstance(page, Page):
            found.append(page)
    slugs = [p.slug for p in found]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"two pages share a slug: {sorted(s for s in slugs if slugs.count(s) > 1)}")
    return tuple(sorted(found, key=lambda p: (p.order, p.slug)))


def page(slug: str) -> Page | None:
    return next((p for p in pages() if p.slug == slug), None)


def external_views(href_prefix: str) -> list[dict[str, Any]]:
    """Airflow ``external_views`` entries: top-level pages in the top navigation, every page
    under the 晋数 category of the plugins menu (shown in an iframe, behind Airflow's login)."""
    views = []
    for p in pages():
        views.append({"name": f"{p.zh} {p.en}", "href": f"{href_prefix}/{p.slug}",
                      "url_route": f"jinshu-{p.slug}", "destination": "nav",
                      "category": "晋数 jinshu", **({"nav_top_level": True} if p.top_level else {})})
    for v in views:
        if v.get("nav_top_level"):
            v.pop("category")
    return views
