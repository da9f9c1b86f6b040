"""The static pages people open: the catalog's and each dataset's (Chinese first, English beside).

Pure: published data packages in, HTML out (Jinja2, autoescaped, ``templates/``). The pages
need no server, font or script from elsewhere: CSS and the search script are inline, links
are relative, so the open-data folder works offline and from any static host.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from jinshu.open.package import FORMATS, PACKAGE, STAMP, data_file, version_prefix
from jinshu.open.provenance import PUBLISHER, PUBLISHER_EN
from jinshu.vocab.licences import LICENCES
from jinshu.vocab.themes import THEMES

CYCLES = {"daily": "每日 daily", "weekly": "每周 weekly", "monthly": "每月 monthly",
          "quarterly": "每季度 quarterly", "yearly": "每年 yearly"}


@cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("jinshu.open", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


def _day(text: str | None) -> str:
    return text[:10] if text else "—"


def _minute(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")


def _files(package: dict, root: str) -> list[dict]:
    dataset, version = package["jinshu"]["provenance"]["dataset"], package["version"]
    files = package["jinshu"]["provenance"]["files"]
    out = []
    for fmt in FORMATS:
        name = data_file(dataset, fmt)
        out.append({"label": fmt.upper(), "href": root + version_prefix(dataset, version) + name,
                    "size": _size(files[name]["bytes"]), "sha256": files[name]["sha256"]})
    return out


def _anonymization(info: dict) -> str:
    a = info["anonymization"]
    parts = [a["method"]]
    if a.get("k_required"):
        parts.append(f"k ≥ {a['k_required']}（实际 achieved {a['k_achieved']}）")
    if a.get("quasi_identifiers"):
        parts.append("泛化 generalized: " + ", ".join(f"{k} → {v}" for k, v in
                                                     a["quasi_identifiers"].items()))
    if a.get("suppressed_records"):
        parts.append(f"抑制 suppressed: {a['suppressed_records']} 条记录 records")
    if a.get("removed_fields"):
        parts.append("删除字段 removed: " + ", ".join(a["removed_fields"]))
    if a.get("perturbation"):
        parts.append("合计值加噪 perturbed sums: " + ", ".join(a["perturbation"]["columns"]))
    return "；".join(parts)


def _summary(package: dict, root: str) -> dict:
    """What the catalog page and the dataset page both show of a dataset's current version."""
    info, stamp = package["jinshu"], package["jinshu"]["provenance"]
    theme, licence = THEMES[info["theme"]], LICENCES[package["licenses"][0]["name"]]
    fields = package["resources"][0]["schema"]["fields"]
    search = " ".join([package["title"], package["description"], stamp["dataset"], stamp["department"],
                       theme.label, theme.label_en, *package["keywords"],
                       *(f"{f['name']} {f['title']}" for f in fields)]).lower()
    return {"id": stamp["dataset"], "title": package["title"], "description": package["description"],
            "department": stamp["department"], "department_code": stamp["department_code"],
            "theme": theme, "keywords": package["keywords"], "livelihood": info["livelihood"],
            "already_disclosed": info["already_disclosed"], "version": package["version"],
            "published_at": _minute(stamp["published_at"]), "acquired_on": _day(stamp["acquired_at"]),
            "rows": info["rows"], "licence": licence, "downloads": _files(package, root),
            "search": search}


def catalog_page(packages: list[dict], generated: datetime) -> str:
    """``index.html``: the current version of each dataset, in the order given."""
    datasets = [_summary(p, "") for p in packages]
    themes = sorted({d["theme"] for d in datasets}, key=lambda t: t.code)
    departments = sorted({d["department"] for d in datasets})
    return _templates().get_template("index.html.j2").render(
        datasets=datasets, themes=themes, departments=departments,
        publisher=f"{PUBLISHER} {PUBLISHER_EN}", generated=_minute(generated.isoformat()))


def _codes(field: dict) -> str:
    return "；".join(f"{c['value']}={c['label']}" for c in field.get("categories", []))


def dataset_page(packages: list[dict], generated: datetime) -> str:
    """``<dataset>/index.html``: the kept versions, newest (current) first."""
    current = packages[0]
    summary = _summary(current, "")
    stamp = current["jinshu"]["provenance"]
    fields = [{**f, "codes": _codes(f), "search": f"{f['name']} {f['title']} {f['description']}".lower()}
              for f in current["resources"][0]["schema"]["fields"]]
    versions = [{"version": p["version"], "published_at": _minute(p["jinshu"]["published_at"]),
                 "acquired_at": _day(p["jinshu"]["provenance"]["acquired_at"]),
                 "rows": p["jinshu"]["rows"], "files": _files(p, ""),
                 "package": version_prefix(stamp["dataset"], p["version"]).split("/", 1)[1] + PACKAGE,
                 "stamp": version_prefix(stamp["dataset"], p["version"]).split("/", 1)[1] + STAMP}
                for p in packages]
    for v in versions:  # the page sits in the dataset's folder
        for f in v["files"]:
            f["href"] = f["href"].split("/", 1)[1]
    summary["downloads"] = versions[0]["files"]
    page = {**summary, "fields": fields, "versions": versions,
            "acquired_from": _minute(stamp["acquired_from"]) if stamp["acquired_from"] else "—",
            "acquired_at": _minute(stamp["acquired_at"]) if stamp["acquired_at"] else "—",
            "update_cycle": CYCLES[current["jinshu"]["update_cycle"]],
            "anonymization": _anonymization(current["jinshu"])}
    return _templates().get_template("dataset.html.j2").render(
        d=page, publisher=f"{PUBLISHER} {PUBLISHER_EN}", generated=_minute(generated.isoformat()))
