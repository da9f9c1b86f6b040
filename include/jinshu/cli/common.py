"""What every command shares: the Typer app, the catalog and the store, and the error exits."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from jinshu.catalog import Contract, ContractError, load_catalog
from jinshu.settings import Settings

app = typer.Typer(help="晋数 jinshu — Shanxi government data platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

Reason = Annotated[str, typer.Option(help="why (audited; no personal data)")]
Actor = Annotated[str | None, typer.Option(
    "--by", help="a note recorded beside your OS user (say, on whose behalf); the audit log "
                 "names the OS user you run as, not this")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def os_user() -> str:
    """The OS account this process runs as (not $USER or $LOGNAME, which anyone can set)."""
    import os
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # an account without a passwd entry (some containers)
        return f"uid {os.geteuid()}"


def operator(note: str | None = None) -> str:
    """Who runs this command, as audited: ``cli:<OS user>``, a ``--by`` note beside it."""
    who = f"cli:{os_user()}"
    return f"{who} (note: {note})"[:128] if note else who


def usage_error(message: str) -> NoReturn:
    """A one-line error for a wrong command line (what, where, fix); exit code 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


def contracts_of(settings: Settings) -> dict[str, Contract]:
    try:
        return load_catalog(settings.catalog_dir)
    except ContractError as error:
        typer.echo(f"catalog error: {error}", err=True)
        raise typer.Exit(2) from error


def contract_of(settings: Settings, dataset: str) -> Contract:
    contracts = contracts_of(settings)
    if dataset not in contracts:
        typer.echo(f"unknown dataset '{dataset}'; use one of: {', '.join(contracts)}", err=True)
        raise typer.Exit(2)
    return contracts[dataset]


def store_of(settings: Settings):
    """The central store's engine, its tables created if need be."""
    from jinshu.store.engine import engine_for
    from jinshu.store.schema import ensure_schema

    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts_of(settings))
    return engine
