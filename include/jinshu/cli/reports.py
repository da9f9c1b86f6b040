"""``jinshu report``: what the platform did, for monitoring (text tables, or --json)."""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import AsJson, app, contracts_of, store_of, usage_error
from jinshu.settings import Settings

report_app = typer.Typer(help="Reports for monitoring (text tables, or --json).")
app.add_typer(report_app, name="report")


@report_app.command("collection")
def report_collection(
    as_json: AsJson = False,
) -> None:
    """Scope violations, consent kept/dropped, withdrawals and repeat offenders per department."""
    from jinshu.govern.report import collection_report, render_collection, to_json

    with store_of(Settings.from_env()).connect() as conn:
        report = collection_report(conn)
    typer.echo(to_json(report) if as_json else render_collection(report))


@report_app.command("quality")
def report_quality(
    as_json: AsJson = False,
    html: Annotated[bool, typer.Option(help="also rebuild Data Docs and the scorecard")] = False,
) -> None:
    """Pass rates, open critical failures and late datasets per department and dataset."""
    from jinshu.govern.report import to_json
    from jinshu.govern.scorecard import build_reports, quality_summary, render_quality_text

    settings = Settings.from_env()
    engine, contracts = store_of(settings), contracts_of(settings)
    typer.echo(to_json(quality_summary(engine, contracts)) if as_json
               else render_quality_text(engine, contracts))
    if html:
        from jinshu.protect.leakguard import LeakFound

        try:
            paths = build_reports(engine, settings.quality_dir, contracts)
        except LeakFound as leak:
            typer.echo(f"report not written: {leak}", err=True)
            raise typer.Exit(1) from leak
        for name, path in paths.items():
            typer.echo(f"{name}: {path}", err=as_json)


@report_app.command("access")
def report_access(
    subject: Annotated[str, typer.Option("--subject", help="the person's ID number (not stored, "
                                         "not printed)")],
    as_json: AsJson = False,
) -> None:
    """The citizen's view: which departments read this person's data, when, why, under which grant."""
    import pandas as pd

    from jinshu.govern.report import text_table, to_json
    from jinshu.protect import keys
    from jinshu.share.access_log import subject_report
    from jinshu.vocab.formats import cn_ric

    settings = Settings.from_env()
    normalized = cn_ric.normalize(pd.Series([subject.strip()], dtype="str")).iloc[0]
    key = keys.protector(settings).pseudonyms.one(normalized)
    with store_of(settings).connect() as conn:
        reads = subject_report(conn, key, contracts_of(settings))
    if as_json:
        typer.echo(to_json({"reads": reads}))
        return
    if not reads:
        typer.echo("no department has read this person's data through the exchange")
        return
    typer.echo(text_table(["when (UTC)", "department", "dataset", "purpose", "grant", "fields"],
                          [[r["at"], r["department"], r["dataset_id"], r["purpose"],
                            f"#{r['grant_id']}" if r["grant_id"] else "-", ",".join(r["fields"])]
                           for r in reads]))


@report_app.command("repeat")
def report_repeat(
    department: Annotated[str | None, typer.Option(help="only what this collecting department "
                                                   "(code) collects again")] = None,
    as_json: AsJson = False,
) -> None:
    """Repeated collection per department pair and concept: subjects collected twice, conflicts,
    share of the dataset, trend run over run, and the findings sent back."""
    from jinshu.catalog import load_concepts
    from jinshu.govern.report import render_repeat, repeat_report, to_json

    settings = Settings.from_env()
    contracts = contracts_of(settings)
    known = sorted({c.department.code for c in contracts.values()})
    if department is not None and department not in known:
        usage_error(f"--department: no department has the code given. Fix: use one of "
                    f"{', '.join(known)}")
    with store_of(settings).connect() as conn:
        report = repeat_report(conn, contracts, load_concepts(settings.catalog_dir), department)
    typer.echo(to_json(report) if as_json else render_repeat(report))


@report_app.command("exchange")
def report_exchange(as_json: AsJson = False) -> None:
    """Exchange requests awaiting a decision, with their deadlines; escalated ones flagged."""
    from jinshu.govern.report import run_sql, text_table, to_json

    with store_of(Settings.from_env()).connect() as conn:
        rows = run_sql(conn, "exchange_requests.sql")
    if as_json:
        typer.echo(to_json({"requests": rows}))
        return
    typer.echo(text_table(["#", "dataset", "owner", "requester", "status", "due", "escalated"],
                          [[str(r["id"]), r["dataset_id"], r["owner"], r["requester"], r["status"],
                            str(r["due_on"]), "OVERDUE" if r["escalated"] else ""] for r in rows]))


@report_app.command("development")
def report_development(
    within: Annotated[int, typer.Option(help="list terms ending within this many days")] = 30,
    as_json: AsJson = False,
) -> None:
    """Developer authorizations: all of them, missing filings, terms ending soon, ended."""
    from datetime import UTC, datetime

    from jinshu.govern.report import to_json
    from jinshu.share.development import render, report

    if within < 0:
        usage_error("--within: a number of days, 0 or more. Fix: pass --within 30")
    with store_of(Settings.from_env()).connect() as conn:
        found = report(conn, datetime.now(UTC), within)
    typer.echo(to_json(found) if as_json else render(found))
