"""``jinshu consent``: record one decision, show a subject's."""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import app, contracts_of, operator, store_of
from jinshu.settings import Settings

consent_app = typer.Typer(help="Consent decisions: record one, show a subject's.")
app.add_typer(consent_app, name="consent")


@consent_app.command("record")
def consent_record(
    dataset: Annotated[str, typer.Option(help="dataset id")],
    field: Annotated[str, typer.Option(help="the consent-based field")],
    id_number: Annotated[str, typer.Option(help="the subject's ID number (never stored)")],
    decision: Annotated[str, typer.Option(help="granted | refused | withdrawn")],
    channel: Annotated[str, typer.Option(help="counter | online | app | paper")] = "counter",
    on: Annotated[str | None, typer.Option(help="date decided, YYYY-MM-DD; default today")] = None,
) -> None:
    """Record one consent decision, checked like a consent extract's row."""
    from jinshu.collect.consent_intake import record_one

    settings = Settings.from_env()
    store_of(settings)
    try:
        outcome = record_one(settings, contracts_of(settings), dataset=dataset, field=field,
                             id_number=id_number, decision=decision, channel=channel, on=on,
                             actor=operator())
    except ValueError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(outcome)


@consent_app.command("show")
def consent_show(
    id_number: Annotated[str, typer.Option(help="the subject's ID number (never stored)")],
) -> None:
    """Every decision and withdrawal recorded for one subject."""
    from jinshu.collect.consent_intake import decisions_of

    settings = Settings.from_env()
    store_of(settings)
    for line in decisions_of(settings, id_number, operator()):
        typer.echo(line)
