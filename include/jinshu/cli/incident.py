"""``jinshu incident``: suspend a dataset wherever it leaves the store, and lift it."""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import Actor, Reason, app, contract_of, operator, store_of
from jinshu.settings import Settings
from jinshu.store.objects import open_store

incident_app = typer.Typer(help="Incidents: suspend a dataset wherever it leaves the store.")
app.add_typer(incident_app, name="incident")


@incident_app.command("open")
def incident_open(dataset: Annotated[str, typer.Argument(help="dataset id")], reason: Reason,
                  by: Actor = None) -> None:
    """Suspend a dataset: exchange reads and publishes refused, open data withdrawn."""
    from datetime import UTC, datetime

    from jinshu.govern import incident

    settings = Settings.from_env()
    contract_of(settings, dataset)
    store = open_store(settings.open_data_url, settings.s3_endpoint_url)
    try:
        opened = incident.open_incident(store_of(settings), store, dataset, reason, operator(by),
                                        datetime.now(UTC))
    except incident.IncidentError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"incident #{opened.incident_id} opened: {dataset} suspended (exchange reads and "
               f"publishes refused); open data live: {opened.open_data or 'none'}")


@incident_app.command("close")
def incident_close(dataset: Annotated[str, typer.Argument(help="dataset id")], reason: Reason,
                   by: Actor = None) -> None:
    """Lift a dataset's suspension; the next publish run republishes it."""
    from datetime import UTC, datetime

    from jinshu.govern import incident

    settings = Settings.from_env()
    contract_of(settings, dataset)
    try:
        closed = incident.close_incident(store_of(settings), dataset, reason, operator(by),
                                         datetime.now(UTC))
    except incident.IncidentError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"closed incident(s) {', '.join(f'#{i}' for i in closed)}: {dataset} is available "
               "again; run publish_exchange / publish_open_data to republish it now")


@incident_app.command("list")
def incident_list() -> None:
    """Open incidents, oldest first."""
    from jinshu.govern import incident

    with store_of(Settings.from_env()).connect() as conn:
        rows = incident.active_incidents(conn)
    if not rows:
        typer.echo("no open incident")
    for row in rows:
        typer.echo(f"#{row.id:<5} {row.dataset_id:<28} {str(row.opened_at)[:19]}  "
                   f"{row.opened_by:<16} {row.reason}")
