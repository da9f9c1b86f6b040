"""``jinshu``: the command line for platform engineers and departments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from jinshu.catalog import ContractError, load_catalog
from jinshu.settings import Settings

app = typer.Typer(help="晋数 jinshu — Shanxi government data platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def _contracts(settings: Settings):
    try:
        return load_catalog(settings.catalog_dir)
    except ContractError as error:
        typer.echo(f"catalog error: {error}", err=True)
        raise typer.Exit(2) from error


def _contract(settings: Settings, dataset: str):
    contracts = _contracts(settings)
    if dataset not in contracts:
        typer.echo(f"unknown dataset '{dataset}'; use one of: {', '.join(contracts)}", err=True)
        raise typer.Exit(2)
    return contracts[dataset]


@app.command()
def demo(rows: Annotated[int, typer.Option(help="rows per clean sample extract")] = 200) -> None:
    """Generate sample extracts and run every DAG once on the embedded defaults."""
    from jinshu.demo import main

    raise typer.Exit(main(rows))


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
    from jinshu.generate import generate_extract

    settings = Settings.from_env()
    contract = _contract(settings, dataset)
    name, data = generate_extract(contract, rows, seed=seed, faults=frozenset(fault or ()),
                                  header=header)
    folder = out or Path(settings.landing_url) / contract.landing_prefix
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    typer.echo(f"wrote {folder / name} ({rows} rows, {len(data):,} bytes)")


@app.command()
def check(
    dataset: Annotated[str, typer.Argument(help="dataset id the file is for")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Check an extract against its contract before dropping it (stores nothing)."""
    from jinshu.conform import conform
    from jinshu.read import UnreadableFile, read_extract
    from jinshu.rules import check_rows

    contract = _contract(Settings.from_env(), dataset)
    try:
        extract = read_extract(file.name, file.read_bytes())
        conformed, scope = conform(extract.frame, contract)
    except (UnreadableFile, ValueError) as error:
        typer.echo(f"{file}: rejected: {error}", err=True)
        raise typer.Exit(1) from error
    checked = check_rows(conformed, contract)
    problems = [{"row": b.row, "column": None, "rule": b.rule, "detail": b.detail}
                for b in extract.bad_records]
    problems += [{"row": int(r["_row"]), "column": r["column"], "rule": r["rule"],
                  "detail": r["detail"], "fix": r["fix"]} for _, r in checked.violations.iterrows()]
    result = {"file": str(file), "rows": extract.rows_in, "accepted": len(checked.valid),
              "undeclared_columns": [v.header for v in scope], "problems": problems}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{file}: {result['accepted']} of {result['rows']} rows pass")
        for v in scope:
            typer.echo(f"  column '{v.header}' is not in the contract: it will not be collected")
        for p in problems[:50]:
            typer.echo(f"  row {p['row']}, column {p['column']}: {p['detail']}. Fix: {p.get('fix', '')}")
    raise typer.Exit(1 if problems or scope else 0)


report_app = typer.Typer(help="Reports for monitoring (text tables, or --json).")
consent_app = typer.Typer(help="Consent decisions: record one, show a subject's.")
audit_app = typer.Typer(help="The tamper-evident audit log.")
incident_app = typer.Typer(help="Incidents: suspend a dataset wherever it leaves the store.")
app.add_typer(report_app, name="report")
app.add_typer(consent_app, name="consent")
app.add_typer(audit_app, name="audit")
app.add_typer(incident_app, name="incident")


def _store(settings: Settings):
    from jinshu.store import engine_for, ensure_schema

    engine = engine_for(settings.store_url)
    ensure_schema(engine, _contracts(settings))
    return engine


@report_app.command("collection")
def report_collection(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Scope violations, consent kept/dropped, withdrawals and repeat offenders per department."""
    from jinshu.report import collection_report, render_collection, to_json

    with _store(Settings.from_env()).connect() as conn:
        report = collection_report(conn)
    typer.echo(to_json(report) if as_json else render_collection(report))


@report_app.command("quality")
def report_quality(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    html: Annotated[bool, typer.Option(help="also rebuild Data Docs and the scorecard")] = False,
) -> None:
    """Pass rates, open critical failures and late datasets per department and dataset."""
    from jinshu.report import to_json
    from jinshu.scorecard import build_reports, quality_summary, render_quality_text

    settings = Settings.from_env()
    engine, contracts = _store(settings), _contracts(settings)
    typer.echo(to_json(quality_summary(engine, contracts)) if as_json
               else render_quality_text(engine, contracts))
    if html:
        from jinshu.leakguard import LeakFound

        try:
            paths = build_reports(engine, settings.quality_dir, contracts)
        except LeakFound as leak:
            typer.echo(f"report not written: {leak}", err=True)
            raise typer.Exit(1) from leak
        for name, path in paths.items():
            typer.echo(f"{name}: {path}", err=as_json)


@app.command()
def suites() -> None:
    """Regenerate the GX suites in expectations/ from the contracts (hand-written extras kept)."""
    from jinshu.quality import write_suites

    for path in write_suites(_contracts(Settings.from_env())):
        typer.echo(f"wrote {path}")


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
    from jinshu.consent_intake import record_one

    settings = Settings.from_env()
    _store(settings)
    try:
        outcome = record_one(settings, _contracts(settings), dataset=dataset, field=field,
                             id_number=id_number, decision=decision, channel=channel, on=on)
    except ValueError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(outcome)


@consent_app.command("show")
def consent_show(
    id_number: Annotated[str, typer.Option(help="the subject's ID number (never stored)")],
) -> None:
    """Every decision and withdrawal recorded for one subject."""
    from jinshu.consent_intake import decisions_of

    settings = Settings.from_env()
    _store(settings)
    for line in decisions_of(settings, id_number):
        typer.echo(line)


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[str | None, typer.Option(help="SEQ:HASH from an earlier `audit head`: "
                                                    "also detects entries cut off the end")] = None,
) -> None:
    """Check the hash chain; exit 1 and name the first broken entry if it does not hold."""
    from jinshu import audit

    with _store(Settings.from_env()).connect() as conn:
        try:
            verdict = audit.verify(conn, anchor)
        except ValueError as error:
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
    from jinshu import audit

    with _store(Settings.from_env()).connect() as conn:
        typer.echo(audit.head(conn))


@audit_app.command("show")
def audit_show(last: Annotated[int, typer.Option(help="how many entries")] = 20) -> None:
    """The latest entries, oldest first."""
    import sqlalchemy as sa

    from jinshu.audit import audit_log

    with _store(Settings.from_env()).connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(last)).all()
    for row in reversed(rows):
        typer.echo(f"{row.seq:>6}  {row.at[:19]}  {row.actor:<16} {row.action:<20} {row.subject}"
                   f"  {row.details}")


Reason = Annotated[str, typer.Option(help="why (audited; no personal data)")]
Actor = Annotated[str, typer.Option("--by", envvar="USER", help="who; default: $USER")]


@incident_app.command("open")
def incident_open(dataset: Annotated[str, typer.Argument(help="dataset id")], reason: Reason,
                  by: Actor = "unknown") -> None:
    """Suspend a dataset: exchange reads and publishes refused, open data withdrawn."""
    from datetime import UTC, datetime

    from jinshu import incident
    from jinshu.objectstore import open_store

    settings = Settings.from_env()
    _contract(settings, dataset)
    store = open_store(settings.open_data_url, settings.s3_endpoint_url)
    try:
        opened = incident.open_incident(_store(settings), store, dataset, reason, by,
                                        datetime.now(UTC))
    except incident.IncidentError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"incident #{opened.incident_id} opened: {dataset} suspended (exchange reads and "
               f"publishes refused); open data live: {opened.open_data or 'none'}")


@incident_app.command("close")
def incident_close(dataset: Annotated[str, typer.Argument(help="dataset id")], reason: Reason,
                   by: Actor = "unknown") -> None:
    """Lift a dataset's suspension; the next publish run republishes it."""
    from datetime import UTC, datetime

    from jinshu import incident

    settings = Settings.from_env()
    _contract(settings, dataset)
    try:
        closed = incident.close_incident(_store(settings), dataset, reason, by, datetime.now(UTC))
    except incident.IncidentError as error:
        typer.echo(f"rejected: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"closed incident(s) {', '.join(f'#{i}' for i in closed)}: {dataset} is available "
               "again; run publish_exchange / publish_open_data to republish it now")


@incident_app.command("list")
def incident_list() -> None:
    """Open incidents, oldest first."""
    from jinshu import incident

    with _store(Settings.from_env()).connect() as conn:
        rows = incident.active_incidents(conn)
    if not rows:
        typer.echo("no open incident")
    for row in rows:
        typer.echo(f"#{row.id:<5} {row.dataset_id:<28} {str(row.opened_at)[:19]}  "
                   f"{row.opened_by:<16} {row.reason}")


@app.command()
def batches(dataset: Annotated[str | None, typer.Argument()] = None) -> None:
    """Print the batch ledger."""
    from jinshu import ledger
    from jinshu.report import batch_table

    with _store(Settings.from_env()).connect() as conn:
        typer.echo(batch_table(ledger.summary(conn, dataset)))


keys_app = typer.Typer(help="Data encryption keys: status, rotation, retirement (key material "
                            "is never shown).")
app.add_typer(keys_app, name="keys")


def _keyring(settings: Settings):
    from jinshu.keys import KeyringError, data_keyring

    try:
        return data_keyring(settings)
    except KeyringError as error:
        typer.echo(f"keyring error: {error}", err=True)
        raise typer.Exit(2) from error


def _echo_verify(report) -> None:
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        typer.echo("verification FAILED: see the lines above", err=True)
        raise typer.Exit(1)
    typer.echo(f"verified: every value decrypts under '{report.active}' and matches its blind index")


@keys_app.command("status")
def keys_status() -> None:
    """Key ids (which is active) and stored values per key id per dataset field."""
    from jinshu.rotation import key_counts

    settings = Settings.from_env()
    keyring = _keyring(settings)
    counts = key_counts(_store(settings), _contracts(settings))
    typer.echo(f"keyring: {keyring.source}")
    for key_id in sorted({*keyring.keys, *(k for _, _, k in counts)}):
        used = sum(n for (_, _, k), n in counts.items() if k == key_id)
        note = (" (active)" if key_id == keyring.active else "" if key_id in keyring.keys
                else " NOT IN THE KEYRING: these values cannot be read. Fix: restore the key")
        typer.echo(f"  {key_id}{note}: {used} value(s)")
    per_field: dict[str, list[str]] = {}
    for (dataset, name, key_id), n in sorted(counts.items()):
        per_field.setdefault(f"{dataset}.{name}", []).append(f"{key_id}={n}")
    for where, parts in per_field.items():
        typer.echo(f"{where:<48} {' '.join(parts)}")


@keys_app.command("rotate")
def keys_rotate(
    new_key: Annotated[bool, typer.Option(
        "--new-key/--no-new-key",
        help="first add a fresh active key to the local keyring; --no-new-key to resume, or when "
             "the keys live in the environment or Airflow")] = True,
    chunk_rows: Annotated[int, typer.Option(help="values re-encrypted per transaction")] = 10_000,
    by: Actor = "unknown",
) -> None:
    """Re-encrypt every stored value to the active key, then verify every value.

    With keys in JINSHU_DATA_KEYS or an Airflow connection: add the new key there, make it
    active, keep the old ones, then run with --no-new-key.
    """
    from datetime import UTC, datetime

    from jinshu import protect, rotation
    from jinshu.keys import keyring_is_local, save_local_keyring

    settings = Settings.from_env()
    engine, contracts, keyring = _store(settings), _contracts(settings), _keyring(settings)
    if new_key:
        if not keyring_is_local(settings):
            typer.echo(f"the keyring comes from {keyring.source}: add the new key there, make it "
                       "active, then run `jinshu keys rotate --no-new-key`", err=True)
            raise typer.Exit(2)
        keyring = keyring.with_new_key()
        save_local_keyring(settings, keyring)
        rotation.audit_key_event(engine, "key_created", keyring.active,
                                 {"keyring": "local", "keys": sorted(keyring.keys)}, by,
                                 datetime.now(UTC))
        typer.echo(f"new active key '{keyring.active}' added to {keyring.source}")
    protector = protect.protector(settings)
    try:
        report = rotation.rotate(engine, contracts, protector, datetime.now(UTC), chunk_rows,
                                 actor=by)
    except rotation.RotationError as error:
        typer.echo(f"rotation stopped: {error}", err=True)
        raise typer.Exit(1) from error
    for dataset, fields in report.reencrypted.items():
        typer.echo(f"{dataset}: " + ", ".join(f"{f}={n}" for f, n in fields.items()))
    typer.echo(f"re-encrypted {report.total} value(s) to '{report.active}' in {report.chunks} "
               f"chunk(s); {report.skipped} changed meanwhile (run again for those)")
    _echo_verify(rotation.verify(engine, contracts, protector, chunk_rows))


@keys_app.command("verify")
def keys_verify() -> None:
    """Decrypt every stored value and recompute its blind index; exit 1 on any problem."""
    from jinshu import protect, rotation

    settings = Settings.from_env()
    _echo_verify(rotation.verify(_store(settings), _contracts(settings),
                                 protect.protector(settings)))


@keys_app.command("retire")
def keys_retire(key_id: Annotated[str, typer.Argument(help="id of the key to drop")],
                by: Actor = "unknown") -> None:
    """Drop a key from the keyring; refused while it is active or any stored value uses it.

    Store backups taken before the rotation still need the key: escrow a copy first.
    """
    from datetime import UTC, datetime

    from jinshu import rotation
    from jinshu.keys import KeyringError, keyring_is_local, save_local_keyring

    settings = Settings.from_env()
    engine, contracts, keyring = _store(settings), _contracts(settings), _keyring(settings)
    try:
        remaining = rotation.retire(engine, contracts, keyring, key_id)
    except KeyringError as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(1) from error
    if not keyring_is_local(settings):
        typer.echo(f"no stored value uses '{key_id}': remove it from {keyring.source}")
        return
    save_local_keyring(settings, remaining)
    rotation.audit_key_event(engine, "key_retired", key_id,
                             {"keyring": "local", "keys": sorted(remaining.keys)}, by,
                             datetime.now(UTC))
    typer.echo(f"key '{key_id}' retired; keys left: {', '.join(sorted(remaining.keys))}")


if __name__ == "__main__":
    app()
