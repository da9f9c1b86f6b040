"""``jinshu developers``: the registry of developer authorizations (开发利用授权)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from jinshu.cli.common import Actor, AsJson, Reason, app, contracts_of, operator, store_of
from jinshu.settings import Settings

developers_app = typer.Typer(help="Developer authorizations: register, record the agreement and "
                                  "the filing (备案), list, revoke.")
app.add_typer(developers_app, name="developers")

Day = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"])]
Id = Annotated[int, typer.Argument(help="authorization id (jinshu developers list)")]


def _done(change, *args):
    """Run one registry change; a refusal is printed with its fix (exit 1)."""
    from jinshu.share.authorization import RegistrationError

    try:
        return change(*args)
    except RegistrationError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error


def _state(engine, authorization_id: int) -> str:
    from jinshu.share import authorization, development

    with engine.connect() as conn:
        held = development.get(conn, authorization_id)
    on = authorization.today(datetime.now(UTC))
    lacks = authorization.missing(held, on)
    status = authorization.status(held, on)
    return status + (f" (missing: {', '.join(lacks)})" if lacks and status != "revoked" else "")


@developers_app.command("add")
def developers_add(
    organization: Annotated[str, typer.Argument(help="the developer organization's name")],
    uscc: Annotated[str, typer.Option(help="its unified social credit code (18 characters)")],
    dataset: Annotated[list[str], typer.Option(help="a dataset it may develop (repeatable)")],
    purpose: Annotated[str, typer.Option(help="what for (no personal data)")],
    expires: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"],
                                              help="last day of the term, YYYY-MM-DD")],
    agreement_no: Annotated[str | None, typer.Option(help="the written agreement's number")] = None,
    signed_on: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                       help="the agreement's date")] = None,
    by: Actor = None,
) -> None:
    """Register an authorization; record its agreement now or with `agree`, its filing with `file`."""
    from jinshu.share import development

    settings = Settings.from_env()
    engine = store_of(settings)
    new_id = _done(lambda: development.register(
        engine, contracts_of(settings), organization=organization, uscc=uscc, datasets=dataset,
        purpose=purpose, expires_on=expires.date(), actor=operator(by), now=datetime.now(UTC),
        agreement_no=agreement_no, agreement_on=signed_on.date() if signed_on else None))
    typer.echo(f"authorization #{new_id} registered: {_state(engine, new_id)}")


@developers_app.command("agree")
def developers_agree(authorization_id: Id, agreement_no: Annotated[str, typer.Option()],
                     signed_on: Day, by: Actor = None) -> None:
    """Record the written agreement (书面协议) of an authorization."""
    from jinshu.share import development

    engine = store_of(Settings.from_env())
    _done(development.record_agreement, engine, authorization_id, agreement_no, signed_on.date(),
          operator(by), datetime.now(UTC))
    typer.echo(f"authorization #{authorization_id}: {_state(engine, authorization_id)}")


@developers_app.command("file")
def developers_file(authorization_id: Id, filing_no: Annotated[str, typer.Option()],
                    filed_on: Day, by: Actor = None) -> None:
    """Record the filing (备案) of an authorization with the information management department."""
    from jinshu.share import development

    engine = store_of(Settings.from_env())
    _done(development.file, engine, authorization_id, filing_no, filed_on.date(), operator(by),
          datetime.now(UTC))
    typer.echo(f"authorization #{authorization_id}: {_state(engine, authorization_id)}")


@developers_app.command("revoke")
def developers_revoke(authorization_id: Id, reason: Reason, by: Actor = None) -> None:
    """Revoke an authorization at once: reads under it are refused from now on."""
    from jinshu.share import development

    _done(development.revoke, store_of(Settings.from_env()), authorization_id, reason,
          operator(by), datetime.now(UTC))
    typer.echo(f"authorization #{authorization_id} revoked: reads under it are refused from now on")


@developers_app.command("list")
def developers_list(as_json: AsJson = False) -> None:
    """Every authorization, newest first, with its status and what it lacks."""
    from jinshu.govern.report import to_json
    from jinshu.share import development

    with store_of(Settings.from_env()).connect() as conn:
        rows = development.report(conn, datetime.now(UTC))["authorizations"]
    rows.sort(key=lambda r: -r["id"])
    if as_json:
        typer.echo(to_json({"authorizations": rows}))
        return
    if not rows:
        typer.echo("no authorization yet: jinshu developers add ORGANIZATION --uscc ... --dataset ...")
        return
    typer.echo(development.as_text(rows))
