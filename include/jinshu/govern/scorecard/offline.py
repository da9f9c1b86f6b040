"""GX Data Docs without internet: every asset the pages load from a CDN, served from the site.

GX 1.24 writes pages that load Bootstrap, jQuery, bootstrap-table, Font Awesome
and Vega from five CDNs, and its logo from S3; offline, the index page shows no
rows (bootstrap-table draws them) and no icons. :func:`rewrite_pages` points every
page's URLs at relative paths under ``data-docs/static/vendor/`` and :func:`copy_assets`
copies the vendored files there (``vendor/``, see its README for versions and licences),
dropping the ``integrity``/``crossorigin`` attributes that only CDN copies need.
A page still loading anything from outside the site raises :class:`ExternalAsset`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"
CDN = {  # URL as GX writes it -> file under vendor/
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "fontawesome/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "bootstrap-table/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
}
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
IMAGE_NAMES = {"full_logo_dark.png": "logo-long.png"}  # S3-only images -> GX's own static copy
_SRI = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
# What a browser loads by itself: src/href of script, link and img, and CSS url().
_LOADED = re.compile(r'<(?:script|img)\b[^>]*\bsrc="(https?:[^"]+)"|<link\b[^>]*\bhref="(https?:[^"]+)"'
                     r"|url\(['\"]?(https?:[^'\")]+)")


class ExternalAsset(RuntimeError):
    """A page still loads something from outside the site."""


def _relative(page: Path, target: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def rewrite(html: str, page: Path, site: Path) -> str:
    """``html`` of ``page`` (inside ``site``) with CDN and S3 URLs pointing into the site."""
    for url, file in sorted(CDN.items(), key=lambda kv: -len(kv[0])):
        html = html.replace(f'"{url}"', f'"{_relative(page, site / "static" / "vendor" / file)}"')
    images = _relative(page, site / "static" / "images")

    def image(found: re.Match[str]) -> str:
        name = found.group(1)
        return f"{images}/{IMAGE_NAMES.get(name, name)}"

    html = re.sub(re.escape(GX_IMAGES) + r"([A-Za-z0-9_.-]+)(?:\?[^\"')]*)?", image, html)
    html = _SRI.sub("", html)
    left = [next(g for g in m.groups() if g) for m in _LOADED.finditer(html)]
    if left:
        raise ExternalAsset(f"{page.relative_to(site)} loads {', '.join(sorted(set(left)))} from outside "
                            "the site. Fix: vendor it (see jinshu/govern/scorecard/vendor/README.md)")
    return html


def rewrite_pages(site: Path) -> None:
    """Point every page of the Data Docs ``site`` at the local copies."""
    site = Path(site)
    for page in sorted(site.rglob("*.html")):
        page.write_text(rewrite(page.read_text(encoding="utf-8"), page, site), encoding="utf-8")


def copy_assets(site: Path) -> None:
    """Copy the vendored files into ``site/static/vendor`` (code, not data: after the leak guard)."""
    shutil.copytree(VENDOR, site / "static" / "vendor", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("README.md"))
