"""Commands for departments and engineers around one dataset: generate, check, suites, batches, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from jinshu.cli import progress
from jinshu.cli.common import AsJson, app, contract_of, contracts_of, store_of, usage_error
from jinshu.settings import Settings


@app.command()
def demo(rows: Annotated[int, typer.Option(help="rows per clean sample extract")] = 200) -> None:
    """Generate sample extracts and run every DAG once on the embedded defaults."""
    from jinshu.dev.demo import main

    raise typer.Exit(main(rows, steps=progress.steps))


@app.command()
def generate(
    dataset: Annotated[str, typer.Argument(help="dataset id from the catalog")],
    rows: Annotated[int, typer.Option(help="number of records")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    fault: Annotated[list[str] | None, typer.Option(help="planted fault, repeatable")] = None,
    header: Annotated[str, typer.Option(help="'title' (Chinese) or 'name' headers")] = "title",
    out: Annotated[Path | None, typer.Option(help="folder; default: the dataset's landing folder")] = None,
) -> None:
    """Write a deterministic sample extract (optionally with planted faults)."""
    from jinshu.dev.generate import FAULTS, generate_extract

    settings = Settings.from_env()
    contract = contract_of(settings, dataset)
    for asked in fault or ():
        if asked not in FAULTS:
            usage_error(f"--fault {asked}: no such fault. Fix: use one of {', '.join(FAULTS)}")
    try:
        name, data = generate_extract(contract, rows, seed=seed, faults=frozenset(fault or ()),
                                      header=header)
    except ValueError as error:  # faults that do not go together, a bad --header or --rows
        usage_error(f"cannot generate {dataset}: {error}")
    folder = out or Path(settings.landing_url) / contract.landing_prefix
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    typer.echo(f"wrote {folder / name} ({rows} rows, {len(data):,} bytes)")


SHOWN = 50  # problems printed for a person; --json has them all


@app.command()
def check(
    dataset: Annotated[str, typer.Argument(help="dataset id the file is for")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    as_json: AsJson = False,
) -> None:
    """Check an extract against its contract before dropping it (stores nothing).

    Exit 0: every row passes; 1: problems found or the file would be refused whole;
    2: wrong usage (unknown dataset, missing file).
    """
    from jinshu import pipeline
    from jinshu.protect.leakguard import shown
    from jinshu.repeat.overlap import available_from_authority

    settings = Settings.from_env()
    contract = contract_of(settings, dataset)
    name = shown(str(file), 400)  # a file named after a person shows masked, never in the clear
    try:
        with progress.steps(len(pipeline.PREFLIGHT_STAGES), f"checking {shown(file.name)}",
                            show=not as_json) as bar:
            found = pipeline.preflight(contract, file.name, file.read_bytes(), on_stage=bar.start)
    except ValueError as error:  # unreadable, a required column missing, a classified header
        if as_json:
            detail, _, fix = str(error).partition(". Fix: ")
            typer.echo(json.dumps({"file": name, "rejected": detail, "fix": fix,
                                   "rule": getattr(error, "rule", type(error).__name__)},
                                  ensure_ascii=False, indent=2))
        else:
            typer.echo(f"{name}: rejected: {error}", err=True)
        raise typer.Exit(1) from error
    elsewhere = available_from_authority(contracts_of(settings), contract, found.columns)
    result = {"file": name, "rows": found.rows, "accepted": found.accepted,
              "undeclared_columns": found.undeclared_columns, "problems": found.problems,
              "available_from_authority": [_from_authority(o) for o in elsewhere]}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{name}: {found.accepted} of {found.rows} rows pass")
        for header in found.undeclared_columns:
            typer.echo(f"  column '{header}' is not in the contract: it will not be collected")
        for o in elsewhere:
            typer.echo(_authority_line(o))
        for p in found.problems[:SHOWN]:
            where = f"row {p['row']}" + (f", column {p['column']}" if p["column"] else "")
            typer.echo(f"  {where}: {p['detail']}. Fix: {p['fix']}")
        if len(found.problems) > SHOWN:
            typer.echo(f"  and {len(found.problems) - SHOWN} more (use --json for all)")
    raise typer.Exit(1 if found.problems or found.undeclared_columns else 0)


def _from_authority(overlap) -> dict:
    source = overlap.authority
    return {"field": overlap.holder.field.name, "title": overlap.holder.field.title,
            "concept": overlap.concept, "authority_dataset": source.contract.id,
            "authority_department": source.contract.department.name,
            "authority_field": source.field.name, "takes": overlap.takes}


def _authority_line(overlap) -> str:
    """What ``check`` says about a column another dataset is the source of (一数一源)."""
    spec, source = overlap.holder.field, overlap.authority
    where = f"{source.contract.id}.{source.field.name} ({source.contract.department.name})"
    if overlap.takes:
        return (f"  column '{spec.name}' ({spec.title}) is taken from {where}: its values in this "
                "file are not stored; the column can be left out")
    return (f"  column '{spec.name}' ({spec.title}) is {overlap.concept}, already available from "
            f"{where}: to stop collecting it again, declare from_authority: true on the field "
            "and read it through the exchange")


@app.command()
def suites() -> None:
    """Regenerate the GX suites in expectations/ from the contracts (hand-written extras kept)."""
    from jinshu.quality import write_suites

    for path in write_suites(contracts_of(Settings.from_env())):
        typer.echo(f"wrote {path}")


@app.command()
def batches(dataset: Annotated[str | None, typer.Argument()] = None) -> None:
    """Print the batch ledger."""
    from jinshu.govern.report import batch_table
    from jinshu.repeat import ledger

    with store_of(Settings.from_env()).connect() as conn:
        typer.echo(batch_table(ledger.summary(conn, dataset), files=True))


@app.command()
def quarantine(batch: Annotated[str, typer.Argument(help="batch id, from `jinshu batches`")],
               as_json: AsJson = False) -> None:
    """Why each row (or the whole file) of a batch was set aside: row, column, rule and fix.

    Reasons name places and rules, never values; the originals stay sealed in the store.
    """
    from jinshu.govern.report import quarantine_reasons, text_table, to_json

    with store_of(Settings.from_env()).connect() as conn:
        reasons = quarantine_reasons(conn, batch)
    if as_json:
        typer.echo(to_json({"batch": batch, "quarantined": reasons}))
        return
    if not reasons:
        typer.echo(f"nothing quarantined in batch {batch}")
        return
    typer.echo(text_table(["row", "column", "rule", "reason"],
                          [[str(r["source_row"] or "file"), r["column_name"] or "", r["rule"],
                            r["message"]] for r in reasons]))
