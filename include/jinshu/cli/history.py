"""``jinshu history``: every version of one subject's records in a dataset, audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from jinshu.cli.common import AsJson, app, contract_of, operator, store_of
from jinshu.settings import Settings


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else "current"


@app.command()
def history(
    dataset: Annotated[str, typer.Argument(help="dataset id from the catalog")],
    subject: Annotated[str, typer.Option("--subject", help="the subject's ID number or credit "
                                         "code (matched through its pseudonym; not stored, not "
                                         "printed)")],
    clear: Annotated[bool, typer.Option("--clear", help="personal fields in the clear: asks for "
                                        "the owning department's exchange token (sensitive and "
                                        "trade-secret fields stay masked)")] = False,
    as_json: AsJson = False,
) -> None:
    """A subject's versions in one dataset: validity, batch, values masked per the exit policy.

    Every read is audited, found or not. Exit 1: the credential or the dataset refused.
    """
    from jinshu.govern.history import NotOwner, read_history
    from jinshu.govern.report import text_table, to_json
    from jinshu.protect import keys
    from jinshu.share import principals

    settings = Settings.from_env()
    contract = contract_of(settings, dataset)
    engine, now = store_of(settings), datetime.now(UTC)
    department = principal = None
    if clear:
        token = typer.prompt(f"exchange token of {contract.department.code}", hide_input=True,
                             err=True)
        try:
            with engine.connect() as conn:
                caller = principals.authenticate(conn, token.strip(), now)
        except principals.Unauthenticated as refused:
            typer.echo(f"refused: {refused}", err=True)
            raise typer.Exit(1) from refused
        department, principal = caller.department, caller.id
    try:
        found = read_history(engine, contract, keys.protector(settings), subject, operator(), now,
                             department=department, principal=principal)
    except (NotOwner, ValueError) as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(1) from refused
    fields = [f.name for f in contract.fields]
    rows = [{"valid_from": _when(v.valid_from), "valid_to": None if v.valid_to is None
             else _when(v.valid_to), "batch": v.batch_id, "acquired_at": _when(v.acquired_at),
             "changed": list(v.changed), **v.values} for v in found.versions]
    if as_json:
        typer.echo(to_json({"dataset": contract.id, "versions": rows, "clear_fields":
                            list(found.clear), "masked_fields": list(found.masked)}))
    elif rows:
        typer.echo(text_table(["valid from (UTC)", "valid to", "batch", "acquired", "changed",
                               *fields],
                              [[r["valid_from"], r["valid_to"] or "current", r["batch"],
                                r["acquired_at"], ",".join(r["changed"]) or "-",
                                *("" if r[f] is None else str(r[f])
                                                    for f in fields)] for r in rows]))
        typer.echo(f"{len(rows)} version(s); masked: {', '.join(found.masked) or 'none'}")
    if not rows:
        typer.echo(f"no record of this subject in {contract.id}", err=as_json)
