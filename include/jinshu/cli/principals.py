"""``jinshu principals``: credentials for departments (and developers) to call the exchange."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from jinshu.cli.common import Actor, app, operator, store_of
from jinshu.settings import Settings

principals_app = typer.Typer(help="Exchange credentials: issue (token shown once), list, revoke.")
app.add_typer(principals_app, name="principals")


@principals_app.command("add")
def principals_add(
    name: Annotated[str, typer.Argument(help="who holds it, e.g. 民政厅救助处 system")],
    department: Annotated[str, typer.Option(help="department code it acts for, e.g. sx_minzheng")],
    kind: Annotated[str, typer.Option(help="department | developer")] = "department",
    days: Annotated[int, typer.Option(help="days until it expires")] = 365,
    uscc: Annotated[str | None, typer.Option(help="a developer's organization: its unified social "
                                             "credit code (its authorizations apply)")] = None,
    by: Actor = None,
) -> None:
    """Issue a credential; the token is printed once and never stored."""
    from jinshu.share import principals

    try:
        issued = principals.issue(store_of(Settings.from_env()), name, department, kind, days,
                                  operator(by), datetime.now(UTC), uscc=uscc)
    except principals.PrincipalError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"principal {issued.principal.id} ({department}, {kind}) expires "
               f"{issued.expires_at:%Y-%m-%d}")
    typer.echo(f"token (shown once, keep it secret): {issued.token}")


@principals_app.command("list")
def principals_list() -> None:
    """Every principal, newest first (secrets are never stored, so never shown)."""
    from jinshu.share import principals

    now = datetime.now(UTC)
    with store_of(Settings.from_env()).connect() as conn:
        rows = principals.listing(conn)
    if not rows:
        typer.echo("no principal yet: jinshu principals add NAME --department CODE")
    for row in rows:
        state = ("revoked" if row.revoked_at else
                 "expired" if principals.as_utc(row.expires_at) <= now else "active")
        typer.echo(f"{row.id}  {row.department:<14} {row.kind:<10} {state:<8} "
                   f"expires {str(row.expires_at)[:10]}  {row.name}"
                   + (f"  (organization {row.uscc})" if row.uscc else ""))


@principals_app.command("revoke")
def principals_revoke(principal_id: Annotated[str, typer.Argument(help="principal id (p_...)")],
                      by: Actor = None) -> None:
    """Revoke a credential at once."""
    from jinshu.share import principals

    try:
        principals.revoke(store_of(Settings.from_env()), principal_id, operator(by),
                          datetime.now(UTC))
    except principals.PrincipalError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"revoked {principal_id}: its token is refused from now on")
