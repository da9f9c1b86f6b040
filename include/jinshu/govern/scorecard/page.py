"""The department scorecard: one static page, inline CSS and SVG, no scripts, no network.

Chinese with English subtitles, for non-engineers: a card per dataset with its
pass-rate chart, then open critical failures, late datasets and scope violations.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jinshu.catalog import Contract
from jinshu.govern.scorecard.markup import bi, chart_svg, esc, fmt
from jinshu.govern.scorecard.words import CYCLE_WORDS, describe
from jinshu.quality import CRITICAL

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


def _badges(d: dict[str, Any]) -> str:
    out = []
    if d["latest"] is None:
        out.append(f'<span class="badge b-none">{bi("未校验", "not validated")}</span>')
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
        f'{esc(describe(f["expectation"], contract)[0])} '
        f'<span class="en">{esc(f["expectation"])} · {esc(f["observed_value"])}'
        f'{" · 样例 sample: " + esc(", ".join(f["unexpected_sample"])) if f["unexpected_sample"] else ""}'
        f'</span></li>' for f in d["failed"])
    cycle = CYCLE_WORDS.get(d["update_cycle"] or "", "")
    return (
        f'<div class="card"><div class="dept">{esc(d["department_name"] or d["department"])} '
        f'<span class="en">{esc(d["department"])}</span></div>'
        f'<h3>{esc(d["title"])} <span class="en">{esc(d["dataset_id"])}</span></h3>'
        f'<div>{_badges(d)}</div>'
        f'<div>最近一批合格率 <span class="en">latest pass rate</span>：<b>{esc(rate)}</b></div>'
        f'<div class="muted">最近收到 last received：{esc(fmt(d["last_received"]))} · '
        f'更新周期 cycle：{esc(cycle)} {esc(d["update_cycle"] or "")}</div>'
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
        f'<div class="tile {cls}"><b>{n}</b>{bi(zh, en)}</div>' for cls, n, zh, en in tiles), "</div>"]

    departments: dict[str, list[dict[str, Any]]] = {}
    for d in datasets:
        departments.setdefault(d["department"], []).append(d)
    body.append(f'<h2>{bi("各部门数据质量", "Quality by department")}</h2><div class="cards">')
    for code in sorted(departments):
        body.extend(_card(d, contracts.get(d["dataset_id"])) for d in departments[code])
    body.append("</div>")

    body.append(f'<h2>{bi("未解决的严重问题", "Open critical failures")}</h2>'
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
                f'<tr><td>{esc(f["title"])}<br><span class="en">{esc(f["dataset_id"])}</span></td>'
                f'<td>{esc(f["batch_id"])}<br><span class="en">{esc(fmt(f["validated_at"]))}</span></td>'
                f'<td>{esc(zh)}<br><span class="en">{esc(f["expectation"])}</span></td>'
                f'<td>{esc(f["observed_value"])}</td><td class="num">{f["unexpected_count"]}</td>'
                f'<td>{esc(", ".join(f["unexpected_sample"]))}</td></tr>')
        body.append("</table>")
    else:
        body.append('<p>无 <span class="en">none</span></p>')

    body.append(f'<h2>{bi("逾期未更新的数据集", "Late datasets")}</h2>'
                f'<p class="muted">最近一次成功入库的时间超过了约定的更新周期。'
                f'<span class="en">The last loaded batch is older than the agreed update cycle.</span></p>')
    if late:
        body.append("<table><tr><th>部门 department</th><th>数据集 dataset</th><th>更新周期 cycle</th>"
                    "<th>最近收到 last received</th><th>逾期 overdue by</th></tr>")
        for d in late:
            overdue = (f"{d['late_by'] / timedelta(days=1):.1f} 天 days" if d["late_by"]
                       else "从未收到 never received")
            body.append(f'<tr><td>{esc(d["department_name"] or d["department"])}</td>'
                        f'<td>{esc(d["title"])}<br><span class="en">{esc(d["dataset_id"])}</span></td>'
                        f'<td>{esc(CYCLE_WORDS.get(d["update_cycle"] or "", ""))} '
                        f'{esc(d["update_cycle"])}</td>'
                        f'<td>{esc(fmt(d["last_received"]))}</td><td>{esc(overdue)}</td></tr>')
        body.append("</table>")
    else:
        body.append('<p>无 <span class="en">none</span></p>')

    if facts["scope"]:
        body.append(f'<h2>{bi("超范围采集", "Scope violations")}</h2>'
                    f'<p class="muted">文件中出现了目录未声明的列；其内容未被保存，只统计了非空值数量。'
                    f'<span class="en">Files carried columns the catalog does not declare; values were '
                    f'not kept, only counted.</span></p>'
                    "<table><tr><th>部门 department</th><th>数据集 dataset</th><th>列名 column</th>"
                    "<th>批次数 batches</th><th>非空值 values</th><th>最近出现 last seen</th></tr>")
        for s in facts["scope"]:
            body.append(f'<tr><td>{esc(s["department"])}</td><td>{esc(s["dataset_id"])}</td>'
                        f'<td>{esc(s["column_header"])}</td><td class="num">{s["batches"]}</td>'
                        f'<td class="num">{s["non_empty_values"]}</td>'
                        f'<td>{esc(fmt(s["last_seen"]))}</td></tr>')
        body.append("</table>")

    body.append(
        '<footer><p><b>如何阅读</b> <span class="en">How to read</span>：柱状图每根柱子是一批数据，'
        '高度为该批通过检查的比例；红色表示有严重问题，橙色表示只有警告，绿色表示全部通过。'
        '严重问题（如身份证号为空、代码不在允许范围、主键重复）须在发布前解决；警告（如电话格式、'
        '记录数骤变、更新不及时）请部门核实。样例数据均已脱敏。</p>'
        '<p class="en">Each bar is one batch; its height is the share of checks passed. Red: a critical '
        'check failed; amber: warnings only; green: all passed. Samples are masked.</p>'
        f'<p>生成时间 generated {esc(fmt(facts["now"]))} · 详细结果见 '
        '<a href="data-docs/index.html">Data Docs</a></p></footer>')
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>数据质量记分卡 Data quality scorecard</title><style>{CSS}</style></head><body>'
        '<header><h1>晋数 · 数据质量记分卡 <span class="en">Data quality scorecard</span></h1>'
        '<div class="en">山西省政务数据共享平台 · Shanxi government data platform</div></header>'
        f'<main>{"".join(body)}</main></body></html>')
