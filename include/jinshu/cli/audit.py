"""``jinshu audit``: the tamper-evident audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import app, store_of
from jinshu.settings import Settings

audit_app = typer.Typer(help="The tamper-evident audit log.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[str | None, typer.Option(help="SEQ:HASH from an earlier `audit head`; "
                                                    "default: the newest published head")] = None,
) -> None:
    """Check the keyed hash chain against the newest published head (so entries cut off the
    end show too); exit 1 and name the first broken entry if it does not hold."""
    from jinshu.govern import audit
    from jinshu.protect.keyring import KeyringError
    from jinshu.store.objects import open_store

    settings = Settings.from_env()
    if anchor is None:
        anchor = audit.published_head(open_store(settings.heads_url, settings.s3_endpoint_url))
        if anchor is not None:
            typer.echo(f"checked against the published head: entry {anchor.split(':')[0]}")
    with store_of(settings).connect() as conn:
        try:
            verdict = audit.verify(conn, anchor)
        except (ValueError, KeyringError) as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from error
    if verdict.intact:
        typer.echo(f"audit log intact: {verdict.entries} entries")
        return
    typer.echo(f"audit log BROKEN at entry {verdict.first_broken}: {verdict.reason}", err=True)
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head() -> None:
    """Print SEQ:HASH of the latest entry; keep it outside the store to anchor verification."""
    from jinshu.govern import audit

    with store_of(Settings.from_env()).connect() as conn:
        typer.echo(audit.head(conn))


@audit_app.command("show")
def audit_show(last: Annotated[int, typer.Option(help="how many entries")] = 20) -> None:
    """The latest entries, oldest first."""
    import sqlalchemy as sa

    from jinshu.govern.audit import audit_log

    with store_of(Settings.from_env()).connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(last)).all()
    for row in reversed(rows):
        typer.echo(f"{row.seq:>6}  {row.at[:19]}  {row.actor:<16} {row.action:<20} {row.subject}"
                   f"  {row.details}")
