"""Quality reports: GX Data Docs and a department scorecard, built from the store.

Everything here reads the ``quality_results`` table (:mod:`jinshu.quality`),
the batch ledger and the scope violations; nothing reads the data itself, so
the reports only ever show masked samples.

* :func:`build_reports` writes ``<out>/data-docs/index.html`` (GX Data Docs,
  rebuilt from the stored results in a throwaway GX file context) and
  ``<out>/scorecard.html`` (static page, inline CSS and SVG, no scripts, no
  network; Chinese with English subtitles, for non-engineers);
* :func:`quality_summary` / :func:`render_quality_text`: the same facts for
  ``--json`` and the terminal.

Both pages pass the leak guard before they replace the previous ones (Data
Docs are built in a staging folder first): a raw identifier keeps the
previous page, is audited (``report_blocked``) and raises ``LeakFound``.
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu import audit, leakguard
from jinshu.catalog import Contract
from jinshu.quality import (
    BATCH_CHECKS,
    CRITICAL,
    UPDATE_CYCLES,
    gx_context,
    quality_results,
)
from jinshu.report import SQL_DIR, text_table

log = logging.getLogger(__name__)
SCORECARD_SQL = "quality_scorecard.sql"
CHART_BATCHES = 30  # batches drawn per dataset
DOCS_BATCHES = 10  # latest batches per dataset rendered into Data Docs
DOCS_SITE = "jinshu"

# What an expectation checks, in words a department reader knows (zh, en).
KIND_WORDS = {
    "not_null": ("必填项为空", "required value missing"),
    "format": ("格式不符", "wrong format"),
    "value_set": ("代码不在允许范围内", "code not in the allowed list"),
    "between": ("数值超出范围", "value out of range"),
    "unique": ("主键重复", "duplicate record key"),
    "row_count_change": ("记录数变化过大", "row count changed sharply"),
    "freshness": ("数据更新不及时", "data arrived late"),
    "mostly_present": ("缺失值过多", "too many missing values"),
    "plausible": ("取值不合理", "implausible value"),
}
CYCLE_WORDS = {"daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
               "yearly": "每年"}


# --- reading the store -------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    """A timestamp from either driver (SQLite hands back text), as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _load_contracts(contracts: Mapping[str, Contract] | None) -> dict[str, Contract]:
    if contracts is not None:
        return dict(contracts)
    from jinshu.catalog import load_catalog
    from jinshu.settings import DEFAULT_CATALOG_DIR

    return load_catalog(DEFAULT_CATALOG_DIR)


def _has_table(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def pass_rates(conn: Connection, contracts: Mapping[str, Contract]) -> list[dict[str, Any]]:
    """Rows of ``sql/reports/quality_scorecard.sql``: one per validated batch, oldest first."""
    sql = (SQL_DIR / SCORECARD_SQL).read_text(encoding="utf-8")
    rows = []
    for row in conn.execute(sa.text(sql)).mappings():
        row = dict(row)
        contract = contracts.get(row["dataset_id"])
        if not row["department"] and contract:
            row["department"] = contract.department.code
        row["validated_at"] = _when(row["validated_at"])
        row["received_at"] = _when(row["received_at"])
        for key in ("expectations", "passed", "critical_failed", "warning_failed"):
            row[key] = int(row[key] or 0)
        row["pass_rate"] = float(row["pass_rate"] or 0)
        rows.append(row)
    return rows


def _results(conn: Connection, batch_ids: list[str]) -> list[dict[str, Any]]:
    if not batch_ids:
        return []
    q = quality_results.c
    rows = conn.execute(sa.select(quality_results).where(q.batch_id.in_(batch_ids))
                        .order_by(q.dataset_id, q.id)).mappings()
    out = []
    for row in rows:
        row = dict(row)
        row["unexpected_sample"] = json.loads(row["unexpected_sample"] or "[]")
        row["kwargs"] = json.loads(row["kwargs"] or "{}")
        row["validated_at"] = _when(row["validated_at"])
        row["success"] = bool(row["success"])
        out.append(row)
    return out


def _last_loaded(conn: Connection) -> dict[str, datetime]:
    from jinshu.store import batches

    if not _has_table(conn, "batches"):
        return {}
    rows = conn.execute(sa.select(batches.c.dataset_id, sa.func.max(batches.c.received_at))
                        .where(batches.c.status == "loaded").group_by(batches.c.dataset_id))
    return {dataset: _when(at) for dataset, at in rows}


def _scope(conn: Connection) -> list[dict[str, Any]]:
    from jinshu.store import scope_violations as sv

    if not _has_table(conn, "scope_violations"):
        return []
    rows = conn.execute(
        sa.select(sv.c.department, sv.c.dataset_id, sv.c.column_header,
                  sa.func.count(sa.distinct(sv.c.batch_id)).label("batches"),
                  sa.func.sum(sv.c.non_empty_values).label("non_empty_values"),
                  sa.func.max(sv.c.seen_at).label("last_seen"))
        .group_by(sv.c.department, sv.c.dataset_id, sv.c.column_header)
        .order_by(sv.c.department, sv.c.dataset_id, sv.c.column_header)).mappings()
    return [{**r, "non_empty_values": int(r["non_empty_values"] or 0),
             "last_seen": _when(r["last_seen"])} for r in rows]


def _kind(expectation: str) -> str:
    return expectation.rsplit(".", 1)[-1]


def describe(expectation: str, contract: Contract | None) -> tuple[str, str]:
    """``("公民身份号码：必填项为空", "id_number: required value missing")``."""
    column, _, kind = expectation.rpartition(".")
    zh, en = KIND_WORDS.get(kind, ("自定义检查", "custom check"))
    if not column:
        return zh, en
    spec = contract.by_name.get(column) if contract else None
    title = spec.title if spec else ("主键" if column == "natural_key" else column)
    return f"{title}：{zh}", f"{column}: {en}"


def collect(engine: Engine, contracts: Mapping[str, Contract] | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Everything the reports show, as plain Python (timestamps as aware datetimes)."""
    contracts = _load_contracts(contracts)
    now = _when(now) or datetime.now(UTC)
    with engine.connect() as conn:
        rates = pass_rates(conn, contracts) if _has_table(conn, "quality_results") else []
        latest: dict[str, dict[str, Any]] = {}
        for row in rates:  # oldest first: the last one per dataset wins
            latest[row["dataset_id"]] = row
        results = _results(conn, [r["batch_id"] for r in latest.values()])
        last_loaded = _last_loaded(conn)
        scope = _scope(conn)
    by_batch: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_batch.setdefault(r["batch_id"], []).append(r)
    datasets = []
    for dataset_id in sorted(set(contracts) | set(latest)):
        contract = contracts.get(dataset_id)
        history = [r for r in rates if r["dataset_id"] == dataset_id]
        last = latest.get(dataset_id)
        failed = [r for r in by_batch.get(last["batch_id"], []) if not r["success"]] if last else []
        received = last_loaded.get(dataset_id)
        cycle = contract.update_cycle if contract else None
        allowed = UPDATE_CYCLES.get(cycle) if cycle else None
        late = bool(allowed and (received is None or now - received > allowed))
        datasets.append({
            "dataset_id": dataset_id,
            "title": contract.title if contract else dataset_id,
            "department": contract.department.code if contract else (last or {}).get("department", ""),
            "department_name": contract.department.name if contract else "",
            "update_cycle": cycle,
            "history": history,
            "latest": last,
            "failed": failed,
            "last_received": received,
            "late": late,
            "late_by": (now - received - allowed) if late and received and allowed else None,
        })
    open_critical = [
        {**f, "title": d["title"], "department": d["department"]}
        for d in datasets for f in d["failed"] if f["severity"] == CRITICAL
    ]
    return {"now": now, "datasets": datasets, "open_critical": open_critical, "scope": scope,
            "contracts": contracts}


# --- terminal and JSON -------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def quality_summary(engine: Engine, contracts: Mapping[str, Contract] | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """JSON-ready: per dataset the latest batch's pass rate and failures, late datasets,
    open critical failures and scope violations."""
    facts = collect(engine, contracts, now)
    datasets = []
    for d in facts["datasets"]:
        last = d["latest"] or {}
        datasets.append({
            "dataset_id": d["dataset_id"], "department": d["department"],
            "update_cycle": d["update_cycle"],
            "latest_batch": last.get("batch_id"), "validated_at": _iso(last.get("validated_at")),
            "expectations": last.get("expectations", 0), "passed": last.get("passed", 0),
            "pass_rate": last.get("pass_rate"),
            "critical_failed": [f["expectation"] for f in d["failed"] if f["severity"] == CRITICAL],
            "warnings_failed": [f["expectation"] for f in d["failed"] if f["severity"] != CRITICAL],
            "batches_validated": len(d["history"]),
            "last_received": _iso(d["last_received"]), "late": d["late"],
        })
    return {
        "generated_at": _iso(facts["now"]),
        "datasets": datasets,
        "open_critical": [{
            "dataset_id": f["dataset_id"], "batch_id": f["batch_id"], "expectation": f["expectation"],
            "observed_value": f["observed_value"], "unexpected_count": f["unexpected_count"],
            "unexpected_sample": f["unexpected_sample"],
        } for f in facts["open_critical"]],
        "late": [d["dataset_id"] for d in datasets if d["late"]],
        "scope_violations": [{**s, "last_seen": _iso(s["last_seen"])} for s in facts["scope"]],
    }


def render_quality_text(engine: Engine, contracts: Mapping[str, Contract] | None = None,
                        now: datetime | None = None) -> str:
    summary = quality_summary(engine, contracts, now)
    rows = []
    for d in summary["datasets"]:
        passed = f"{d['passed']}/{d['expectations']}" if d["latest_batch"] else "-"
        rows.append([d["department"], d["dataset_id"], (d["validated_at"] or "-")[:19], passed,
                     ", ".join(d["critical_failed"]) or "-", ", ".join(d["warnings_failed"]) or "-",
                     "LATE" if d["late"] else "ok"])
    text = [text_table(["department", "dataset", "validated", "passed", "critical", "warnings",
                        "fresh"], rows)]
    if summary["open_critical"]:
        text.append("\nOpen critical failures (latest batch per dataset):")
        text.append(text_table(
            ["dataset", "batch", "expectation", "observed", "sample"],
            [[f["dataset_id"], f["batch_id"], f["expectation"], f["observed_value"] or "",
              ", ".join(f["unexpected_sample"])] for f in summary["open_critical"]]))
    if summary["scope_violations"]:
        text.append("\nScope violations (undeclared columns):")
        text.append(text_table(
            ["department", "dataset", "column", "batches", "values"],
            [[s["department"], s["dataset_id"], s["column_header"], str(s["batches"]),
              str(s["non_empty_values"])] for s in summary["scope_violations"]]))
    return "\n".join(text)


# --- the scorecard page ------------------------------------------------------------------

CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:0;
 background:#f5f6f8;color:#1f2933;line-height:1.5}
header{background:#8b1a1a;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:26px} .en{color:#6b7785;font-size:.82em;font-weight:normal}
header .en{color:#f3d6d6} main{padding:16px 32px 40px;max-width:1200px}
h2{border-bottom:2px solid #8b1a1a;padding-bottom:4px;margin-top:32px}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.tile{background:#fff;border-radius:8px;padding:12px 18px;min-width:150px;box-shadow:0 1px 3px #0002}
.tile b{display:block;font-size:28px} .bad b{color:#b42318} .warn b{color:#b54708} .good b{color:#067647}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px #0002}
.card h3{margin:0 0 4px;font-size:17px} .dept{color:#8b1a1a;font-size:13px;font-weight:bold}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:13px;margin-right:4px;color:#fff}
.b-ok{background:#067647} .b-crit{background:#b42318} .b-warn{background:#b54708}
.b-late{background:#5b3fa8} .b-none{background:#6b7785}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0;font-size:14px}
th,td{border:1px solid #d5dae1;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right} .muted{color:#6b7785}
ul.fails{margin:6px 0;padding-left:18px;font-size:14px}
footer{color:#6b7785;font-size:13px;margin-top:32px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _bi(zh: str, en: str) -> str:
    return f'{_e(zh)} <span class="en">{_e(en)}</span>'


def _fmt(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def chart_svg(history: list[dict[str, Any]], width: int = 340, height: int = 130) -> str:
    """Pass rate per batch as bars (red: a critical failure, amber: warnings only), 0-100 %."""
    history = history[-CHART_BATCHES:]
    left, right, top, bottom = 34, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="合格率 pass rate">']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#d5dae1"/><text x="{left - 4}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#6b7785">{pct}%</text>')
    if not history:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" '
                     f'text-anchor="middle" fill="#6b7785">尚无校验记录 no batches yet</text></svg>')
        return "".join(parts)
    step = plot_w / max(len(history), 1)
    bar = max(min(step * 0.7, 28), 2)
    points = []
    for i, row in enumerate(history):
        rate = row["pass_rate"]
        x = left + step * i + (step - bar) / 2
        h = plot_h * rate / 100
        colour = "#b42318" if row["critical_failed"] else "#d97706" if row["warning_failed"] else "#12a150"
        tip = (f"{_fmt(row['validated_at'])} · {row['batch_id']} · {rate:g}% "
               f"({row['passed']}/{row['expectations']})")
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                     f'height="{max(h, 1):.1f}" fill="{colour}"><title>{_e(tip)}</title></rect>')
        points.append(f"{x + bar / 2:.1f},{top + plot_h - h:.1f}")
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#1f2933" '
                     f'stroke-width="1.2" stroke-dasharray="3 2"/>')
    first, last = history[0]["validated_at"], history[-1]["validated_at"]
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="10" fill="#6b7785">'
                 f'{_e(first.strftime("%m-%d") if first else "")}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 6}" font-size="10" text-anchor="end" '
                 f'fill="#6b7785">{_e(last.strftime("%m-%d") if last else "")} '
                 f'({len(history)} 批 batches)</text></svg>')
    return "".join(parts)


def _badges(d: dict[str, Any]) -> str:
    out = []
    if d["latest"] is None:
        out.append(f'<span class="badge b-none">{_bi("未校验", "not validated")}</span>')
    elif any(f["severity"] == CRITICAL for f in d["failed"]):
        out.append('<span class="badge b-crit">严重问题 critical</span>')
    elif d["failed"]:
        out.append('<span class="badge b-warn">警告 warning</span>')
    else:
        out.append('<span class="badge b-ok">全部通过 all passed</span>')
    if d["late"]:
        out.append('<span class="badge b-late">逾期未更新 late</span>')
    return "".join(out)


def _card(d: dict[str, Any], contract: Contract | None) -> str:
    last = d["latest"]
    rate = f"{last['pass_rate']:g}%（{last['passed']}/{last['expectations']}）" if last else "—"
    fails = "".join(
        f'<li><b>{"严重" if f["severity"] == CRITICAL else "警告"}</b> '
        f'{_e(describe(f["expectation"], contract)[0])} '
        f'<span class="en">{_e(f["expectation"])} · {_e(f["observed_value"])}'
        f'{" · 样例 sample: " + _e(", ".join(f["unexpected_sample"])) if f["unexpected_sample"] else ""}'
        f'</span></li>' for f in d["failed"])
    cycle = CYCLE_WORDS.get(d["update_cycle"] or "", "")
    return (
        f'<div class="card"><div class="dept">{_e(d["department_name"] or d["department"])} '
        f'<span class="en">{_e(d["department"])}</span></div>'
        f'<h3>{_e(d["title"])} <span class="en">{_e(d["dataset_id"])}</span></h3>'
        f'<div>{_badges(d)}</div>'
        f'<div>最近一批合格率 <span class="en">latest pass rate</span>：<b>{_e(rate)}</b></div>'
        f'<div class="muted">最近收到 last received：{_e(_fmt(d["last_received"]))} · '
        f'更新周期 cycle：{_e(cycle)} {_e(d["update_cycle"] or "")}</div>'
        f'{chart_svg(d["history"])}'
        f'{"<ul class=fails>" + fails + "</ul>" if fails else ""}</div>')


def render_scorecard(facts: dict[str, Any]) -> str:
    contracts: dict[str, Contract] = facts["contracts"]
    datasets = facts["datasets"]
    late = [d for d in datasets if d["late"]]
    validated = sum(len(d["history"]) for d in datasets)
    tiles = [
        ("good", len(datasets), "数据集", "datasets"),
        ("good", validated, "已校验批次", "batches validated"),
        ("bad" if facts["open_critical"] else "good", len(facts["open_critical"]),
         "未解决严重问题", "open critical failures"),
        ("warn" if late else "good", len(late), "逾期数据集", "late datasets"),
        ("bad" if facts["scope"] else "good", len(facts["scope"]), "超范围采集字段",
         "undeclared columns"),
    ]
    body = ['<div class="tiles">', *(
        f'<div class="tile {cls}"><b>{n}</b>{_bi(zh, en)}</div>' for cls, n, zh, en in tiles), "</div>"]

    departments: dict[str, list[dict[str, Any]]] = {}
    for d in datasets:
        departments.setdefault(d["department"], []).append(d)
    body.append(f'<h2>{_bi("各部门数据质量", "Quality by department")}</h2><div class="cards">')
    for code in sorted(departments):
        body.extend(_card(d, contracts.get(d["dataset_id"])) for d in departments[code])
    body.append("</div>")

    body.append(f'<h2>{_bi("未解决的严重问题", "Open critical failures")}</h2>'
                f'<p class="muted">每个数据集最近一批中未通过的严重检查；严重问题应在发布前解决。'
                f'<span class="en">Failed critical checks in the latest batch of each dataset; '
                f'fix before publishing.</span></p>')
    if facts["open_critical"]:
        body.append("<table><tr><th>数据集 dataset</th><th>批次 batch</th><th>检查 check</th>"
                    "<th>结果 observed</th><th>异常数 unexpected</th>"
                    "<th>样例（已脱敏）masked sample</th></tr>")
        for f in facts["open_critical"]:
            zh, _ = describe(f["expectation"], contracts.get(f["dataset_id"]))
            body.append(
                f'<tr><td>{_e(f["title"])}<br><span class="en">{_e(f["dataset_id"])}</span></td>'
                f'<td>{_e(f["batch_id"])}<br><span class="en">{_e(_fmt(f["validated_at"]))}</span></td>'
                f'<td>{_e(zh)}<br><span class="en">{_e(f["expectation"])}</span></td>'
                f'<td>{_e(f["observed_value"])}</td><td class="num">{f["unexpected_count"]}</td>'
                f'<td>{_e(", ".join(f["unexpected_sample"]))}</td></tr>')
        body.append("</table>")
    else:
        body.append('<p>无 <span class="en">none</span></p>')

    body.append(f'<h2>{_bi("逾期未更新的数据集", "Late datasets")}</h2>'
                f'<p class="muted">最近一次成功入库的时间超过了约定的更新周期。'
                f'<span class="en">The last loaded batch is older than the agreed update cycle.</span></p>')
    if late:
        body.append("<table><tr><th>部门 department</th><th>数据集 dataset</th><th>更新周期 cycle</th>"
                    "<th>最近收到 last received</th><th>逾期 overdue by</th></tr>")
        for d in late:
            overdue = (f"{d['late_by'] / timedelta(days=1):.1f} 天 days" if d["late_by"]
                       else "从未收到 never received")
            body.append(f'<tr><td>{_e(d["department_name"] or d["department"])}</td>'
                        f'<td>{_e(d["title"])}<br><span class="en">{_e(d["dataset_id"])}</span></td>'
                        f'<td>{_e(CYCLE_WORDS.get(d["update_cycle"] or "", ""))} {_e(d["update_cycle"])}</td>'
                        f'<td>{_e(_fmt(d["last_received"]))}</td><td>{_e(overdue)}</td></tr>')
        body.append("</table>")
    else:
        body.append('<p>无 <span class="en">none</span></p>')

    if facts["scope"]:
        body.append(f'<h2>{_bi("超范围采集", "Scope violations")}</h2>'
                    f'<p class="muted">文件中出现了目录未声明的列；其内容未被保存，只统计了非空值数量。'
                    f'<span class="en">Files carried columns the catalog does not declare; values were '
                    f'not kept, only counted.</span></p>'
                    "<table><tr><th>部门 department</th><th>数据集 dataset</th><th>列名 column</th>"
                    "<th>批次数 batches</th><th>非空值 values</th><th>最近出现 last seen</th></tr>")
        for s in facts["scope"]:
            body.append(f'<tr><td>{_e(s["department"])}</td><td>{_e(s["dataset_id"])}</td>'
                        f'<td>{_e(s["column_header"])}</td><td class="num">{s["batches"]}</td>'
                        f'<td class="num">{s["non_empty_values"]}</td>'
                        f'<td>{_e(_fmt(s["last_seen"]))}</td></tr>')
        body.append("</table>")

    body.append(
        '<footer><p><b>如何阅读</b> <span class="en">How to read</span>：柱状图每根柱子是一批数据，'
        '高度为该批通过检查的比例；红色表示有严重问题，橙色表示只有警告，绿色表示全部通过。'
        '严重问题（如身份证号为空、代码不在允许范围、主键重复）须在发布前解决；警告（如电话格式、'
        '记录数骤变、更新不及时）请部门核实。样例数据均已脱敏。</p>'
        '<p class="en">Each bar is one batch; its height is the share of checks passed. Red: a critical '
        'check failed; amber: warnings only; green: all passed. Samples are masked.</p>'
        f'<p>生成时间 generated {_e(_fmt(facts["now"]))} · 详细结果见 '
        '<a href="data-docs/index.html">Data Docs</a></p></footer>')
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>数据质量记分卡 Data quality scorecard</title><style>{CSS}</style></head><body>'
        '<header><h1>晋数 · 数据质量记分卡 <span class="en">Data quality scorecard</span></h1>'
        '<div class="en">山西省政务数据共享平台 · Shanxi government data platform</div></header>'
        f'<main>{"".join(body)}</main></body></html>')


# --- Data Docs ---------------------------------------------------------------------------


def _snake(class_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def build_data_docs(engine: Engine, out_dir: Path, contracts: Mapping[str, Contract],
                    batches_per_dataset: int = DOCS_BATCHES) -> Path:
    """GX Data Docs from the stored (masked) results: ``out_dir/data-docs/index.html``.

    The results are rebuilt as GX validation results in a throwaway file
    context rather than kept from the run, so raw unexpected values that
    GX collects during validation never reach disk. The two batch-level checks
    are not GX expectations and appear in the scorecard only. Built in a
    staging folder; every page passes the leak guard before the previous docs
    are replaced (a hit raises ``LeakFound`` and keeps them).
    """
    out_dir = Path(out_dir).resolve()
    staging = out_dir / f".staging-{uuid.uuid4().hex[:8]}"  # rebuilt from the store each time
    try:
        _build_docs(engine, staging, contracts, batches_per_dataset)
        for path in sorted((staging / "data-docs").rglob("*")):
            if path.is_file():
                leakguard.guard(str(out_dir / path.relative_to(staging)), path.read_bytes())
        _replace_folder(staging / "data-docs", out_dir / "data-docs")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(out_dir / "gx", ignore_errors=True)  # left by earlier versions
    return out_dir / "data-docs" / "index.html"


def _replace_folder(new: Path, old: Path) -> None:
    trash = old.with_name(f".{old.name}.old")
    shutil.rmtree(trash, ignore_errors=True)
    if old.exists():
        old.rename(trash)
    new.rename(old)
    shutil.rmtree(trash, ignore_errors=True)


def _build_docs(engine: Engine, out_dir: Path, contracts: Mapping[str, Contract],
                batches_per_dataset: int) -> None:
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    docs = out_dir / "data-docs"
    context = gx_context(mode="file", project_root_dir=str(out_dir))
    context.add_data_docs_site(DOCS_SITE, {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
    })
    with engine.connect() as conn:
        rates = pass_rates(conn, contracts) if _has_table(conn, "quality_results") else []
        keep: list[str] = []
        for dataset_id in {r["dataset_id"] for r in rates}:
            keep += [r["batch_id"] for r in rates if r["dataset_id"] == dataset_id][-batches_per_dataset:]
        results = _results(conn, keep)
    by_batch: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if r["expectation_type"] and r["expectation_type"] not in BATCH_CHECKS:
            by_batch.setdefault((r["dataset_id"], r["batch_id"]), []).append(r)
    for (dataset_id, batch_id), rows in sorted(by_batch.items()):
        evrs = []
        for r in rows:
            config = ExpectationConfiguration(
                type=_snake(r["expectation_type"]), kwargs=r["kwargs"],
                meta={"id": r["expectation"], "severity": r["severity"]})
            total = r["element_count"] or 0
            pct = 100 * r["unexpected_count"] / total if total else 0.0
            evrs.append(ExpectationValidationResult(
                success=r["success"], expectation_config=config,
                result={"element_count": total, "unexpected_count": r["unexpected_count"],
                        "unexpected_percent": pct, "partial_unexpected_list": r["unexpected_sample"],
                        "observed_value": r["observed_value"]}))
        passed = sum(r["success"] for r in rows)
        run_id = RunIdentifier(run_name=batch_id, run_time=rows[0]["validated_at"])
        suite_result = ExpectationSuiteValidationResult(
            success=passed == len(rows), results=evrs, suite_name=dataset_id,
            statistics={"evaluated_expectations": len(rows), "successful_expectations": passed,
                        "unsuccessful_expectations": len(rows) - passed,
                        "success_percent": 100 * passed / len(rows)},
            meta={"run_id": run_id, "validation_time": run_id.run_time,
                  "active_batch_definition": {"datasource_name": "jinshu", "data_asset_name": dataset_id,
                                              "batch_definition_name": batch_id},
                  "batch_spec": {}, "batch_markers": {}})
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=dataset_id),
            run_id=run_id, batch_identifier=batch_id)
        context.validation_results_store.set(key, suite_result)
    context.build_data_docs(site_names=[DOCS_SITE])


def build_reports(engine: Engine, out_dir: Path, contracts: Mapping[str, Contract] | None = None,
                  now: datetime | None = None) -> dict[str, Path]:
    """``{"scorecard": out_dir/scorecard.html, "data_docs": out_dir/data-docs/index.html}``.

    ``data_docs`` is missing (and the error logged) if GX fails to render the docs. A
    report carrying a raw identifier is not written (the previous one stays): after the
    other is built, ``report_blocked`` is audited and ``LeakFound`` raised.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    contracts = _load_contracts(contracts)
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
