"""``jinshu catalog``: what a contract change does to the stored data, and applying it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from jinshu.cli.common import AsJson, app, contracts_of, operator, store_of
from jinshu.settings import Settings

catalog_app = typer.Typer(help="Contracts that change: review and migrate the stored tables.")
app.add_typer(catalog_app, name="catalog")

Datasets = Annotated[list[str] | None, typer.Argument(help="dataset ids; default: every one")]


def _chosen(settings: Settings, datasets: list[str] | None) -> dict:
    contracts = contracts_of(settings)
    unknown = sorted(set(datasets or ()) - set(contracts))
    if unknown:
        typer.echo(f"unknown dataset(s) {', '.join(unknown)}; use one of: {', '.join(contracts)}",
                   err=True)
        raise typer.Exit(2)
    return {k: c for k, c in contracts.items() if not datasets or k in datasets}


@catalog_app.command("diff")
def catalog_diff(datasets: Datasets = None, as_json: AsJson = False) -> None:
    """Per dataset, what `jinshu catalog migrate` would do to the stored table (nothing changes).

    Exits 1 when a change cannot be migrated (the line says what to do).
    """
    from jinshu.evolve.migrate import preview

    settings = Settings.from_env()
    previews = preview(store_of(settings), _chosen(settings, datasets))
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in previews], ensure_ascii=False, indent=2))
    else:
        for p in previews:
            lines = p.lines()
            typer.echo(f"{p.plan.dataset}: {'up to date' if not lines else ''}".rstrip())
            for line in lines:
                typer.echo(f"  {line}")
    if any(p.plan.refusals for p in previews):
        raise typer.Exit(1)


@catalog_app.command("migrate")
def catalog_migrate(datasets: Datasets = None) -> None:
    """Bring stored tables to their contracts, each step audited (actor: the OS user).

    A dataset with a change that cannot be migrated is left as it is (exit 1).
    """
    from datetime import UTC, datetime

    from jinshu.evolve.migrate import SchemaOutOfDate, migrate
    from jinshu.protect.keys import protector

    settings = Settings.from_env()
    engine, actor, refused = store_of(settings), operator(), False
    for contract in _chosen(settings, datasets).values():
        try:
            done = migrate(engine, contract, protector(settings), actor, datetime.now(UTC))
        except SchemaOutOfDate as error:
            typer.echo(f"{contract.id}: REFUSED, nothing changed: {error}", err=True)
            refused = True
            continue
        typer.echo(f"{contract.id}: {len(done.steps)} step(s) applied" if done.steps
                   else f"{contract.id}: up to date")
        for step in done.steps:
            typer.echo(f"  {step.describe(contract)}")
    if refused:
        raise typer.Exit(1)
