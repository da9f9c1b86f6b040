"""Human-readable tables of what the platform did."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import ConceptList, Contract
from jinshu.protect.leakguard import shown
from jinshu.repeat.overlap import overlaps, without_authority
from jinshu.settings import REPORTS_SQL_DIR

SQL_DIR = REPORTS_SQL_DIR
COLLECTION_SECTIONS = {
    "departments": "collection_by_department.sql",
    "scope_violations": "scope_violations.sql",
    "consent_fields": "consent_fields.sql",
}

def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned table (wide East Asian characters count double)."""
    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)

    widths = [max([width(h), *(width(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def batch_table(batches: Iterable[sa.Row], files: bool = False) -> str:
    """The ledger as a table, one line per batch named by its id; ``files`` adds the file
    name as stored (identifiers masked, control characters escaped), for a terminal. Task
    logs never carry file names. Reasons are cut to their rule and fix, without the file."""
    rows = []
    for b in batches:
        reason = shown(_without_file(b.reason or ""), 70)
        name = [shown(b.file_key.rsplit("/", 1)[-1], 40)] if files else []
        rows.append([b.dataset_id, b.batch_id, *name, b.status, str(b.rows_in), str(b.stored),
                     str(b.duplicates), str(b.quarantined), reason])
    headers = ["dataset", "batch", *(["file"] if files else []), "status", "in", "stored", "dup",
               "quar", "reason"]
    return text_table(headers, rows)


def _without_file(reason: str) -> str:
    """A quarantine reason without its leading ``file <key>[, row ..]:`` (the batch names it)."""
    return reason.split(": ", 1)[1] if reason.startswith("file ") and ": " in reason else reason


def query(conn: Connection, name: str, **params: object) -> list[dict]:
    """Rows of one report query, the file ``name`` in ``sql/reports`` (its ``:params`` bound),
    as the driver returns them."""
    sql = (SQL_DIR / name).read_text(encoding="utf-8")
    return [dict(row) for row in conn.execute(sa.text(sql), params).mappings()]


def run_sql(conn: Connection, name: str, **params: object) -> list[dict]:
    """Rows of one report query from ``sql/reports``, as plain JSON-ready dicts."""
    return [{k: _plain(v) for k, v in row.items()} for row in query(conn, name, **params)]


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    return str(value)


def collection_report(conn: Connection) -> dict[str, list[dict]]:
    """Scope violations, consent gate and withdrawals, per department and in detail."""
    report = {section: run_sql(conn, sql) for section, sql in COLLECTION_SECTIONS.items()}
    for row in report["departments"] + report["scope_violations"]:
        for flag in ("repeat_offender", "repeat_offence"):
            if flag in row:
                row[flag] = bool(row[flag])
    return report


def render_collection(report: dict[str, list[dict]]) -> str:
    """The collection report as text tables for a terminal or a task log."""
    def cells(rows: list[dict], keys: list[str]) -> list[list[str]]:
        def cell(key: str, value: object) -> str:
            text = "" if value is None else str(value)
            return text[:19] if key.endswith("_seen") else text  # timestamps to the second

        return [[cell(k, r[k]) for k in keys] for r in rows]

    parts = ["collection control by department:"]
    keys = ["department", "records_stored", "scope_violations", "undeclared_values",
            "repeat_offender", "consent_kept", "consent_dropped", "withdrawals", "values_removed"]
    parts.append(text_table(["department", "stored", "scope", "undecl.values", "repeat",
                             "consent kept", "dropped", "withdrawals", "removed"],
                            cells(report["departments"], keys)))
    if report["scope_violations"]:
        keys = ["department", "dataset_id", "column_header", "batches", "non_empty_values",
                "first_seen", "last_seen"]
        parts += ["", "columns outside the declared scope (values never kept):",
                  text_table(["department", "dataset", "column", "batches", "values",
                              "first seen", "last seen"], cells(report["scope_violations"], keys))]
    if report["consent_fields"]:
        keys = ["dataset_id", "field", "kept", "dropped", "records_stored", "withdrawals",
                "values_removed"]
        parts += ["", "consent-based fields (every record stored, with or without consent):",
                  text_table(["dataset", "field", "kept", "dropped", "records stored",
                              "withdrawals", "removed"], cells(report["consent_fields"], keys))]
    return "\n".join(parts)


def to_json(report: dict) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)


def quarantine_reasons(conn: Connection, batch_id: str) -> list[dict]:
    """One dict per quarantined row of a batch (row order; the whole file first): where, the
    rule and the message. The sealed originals are not read."""
    return run_sql(conn, "quarantine_reasons.sql", batch_id=batch_id)


# --- repeated collection across departments -----------------------------------------------------


def repeat_report(conn: Connection, contracts: dict[str, Contract], concepts: ConceptList | None,
                  department: str | None = None) -> dict:
    """Per department pair and concept: the newest run's findings with their trend, every
    run's (``history``), the notices sent back, and the catalog-level overlaps. ``department``
    keeps what concerns one collecting department."""
    titles = {c.name: c.title for c in concepts.concepts} if concepts else {}

    def mine(row: dict) -> bool:
        return department is None or row["collector_department"] == department

    history = [r for r in run_sql(conn, "repeat_collection.sql") if mine(r)]
    for row in history:
        row["takes"] = bool(row["takes"])
    notices = [{**r, "open": bool(r["open"])} for r in run_sql(conn, "repeat_notices.sql") if mine(r)]
    catalog = [{"concept": o.concept, "title": titles.get(o.concept, ""),
                "collector_department": o.holder.contract.department.code,
                "collector_dataset": o.holder.contract.id, "collector_field": o.holder.field.name,
                "authority_department": o.authority.contract.department.code,
                "authority_dataset": o.authority.contract.id,
                "authority_field": o.authority.field.name, "takes": o.takes}
               for o in overlaps(contracts)]
    unowned = [{"concept": concept, "title": titles.get(concept, ""),
                "held_by": [f"{h.contract.id}.{h.field.name}" for h in found]}
               for concept, found in without_authority(contracts).items()]
    return {"pairs": [r for r in history if r["newest"] == 1], "history": history,
            "notices": notices, "catalog": [r for r in catalog if mine(r)],
            "without_authority": unowned}


def _share(value: object) -> str:
    return "" if value is None else f"{100 * float(value):.1f}%"


def _change(value: object) -> str:
    return "first run" if value is None else f"{int(value):+d}"


def render_repeat(report: dict) -> str:
    """The repeat-collection report as text tables (counts only)."""
    parts = ["repeated collection by department pair and concept (latest run of each pair):"]
    rows = [[r["collector_department"], r["authority_department"], r["concept"],
             f"{r['collector_dataset']}.{r['collector_field']}", r["method"],
             "takes from authority" if r["takes"] else "collects",
             str(r["collector_subjects"]), str(r["subjects_twice"]), _share(r["share_twice"]),
             "" if r["conflicts"] is None else str(r["conflicts"]), _change(r["change_twice"]),
             str(r["run_at"])[:19]] for r in report["pairs"]]
    parts.append(text_table(["collector", "authority", "concept", "collected in", "method", "how",
                             "subjects", "twice", "share", "conflicts", "trend", "run at"], rows)
                 if rows else "  no detection run yet: the repeat_collection DAG runs after ingests")
    open_notices = [n for n in report["notices"] if n["open"]]
    if open_notices:
        parts += ["", "sent back to the collecting departments (open notices):"]
        parts.append(text_table(
            ["#", "department", "collects", "concept", "authority", "since", "twice", "conflicts"],
            [[str(n["id"]), n["collector_department"],
              f"{n['collector_dataset']}.{n['collector_field']}", n["concept"],
              n["authority_dataset"], str(n["opened_at"])[:10], str(n["subjects_twice"]),
              "" if n["conflicts"] is None else str(n["conflicts"])] for n in open_notices]))
        parts.append("  fix: declare from_authority: true on the field to read the concept from "
                     "its authority through the exchange instead of asking citizens again; send "
                     "conflicting values to the authority to be checked")
    if report["catalog"]:
        parts += ["", "catalog: datasets holding a concept another dataset is the source of:"]
        parts.append(text_table(["dataset.field", "concept", "title", "how", "authority"], [
            [f"{c['collector_dataset']}.{c['collector_field']}", c["concept"], c["title"],
             "takes" if c["takes"] else "collects",
             f"{c['authority_dataset']}.{c['authority_field']} ({c['authority_department']})"]
            for c in report["catalog"]]))
    if report["without_authority"]:
        parts += ["", "concepts held by several datasets and no authority (一数一源 needs one):"]
        parts += [f"  {u['concept']} {u['title']}: {', '.join(u['held_by'])}"
                  for u in report["without_authority"]]
    return "\n".join(parts)
