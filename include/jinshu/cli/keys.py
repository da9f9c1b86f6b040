"""``jinshu keys``: data encryption keys: status, rotation, retirement (key material never shown)."""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import Actor, app, contracts_of, operator, store_of
from jinshu.protect import keys
from jinshu.settings import Settings

keys_app = typer.Typer(help="Data encryption keys: status, rotation, retirement (key material "
                            "is never shown).")
app.add_typer(keys_app, name="keys")


def _keyring(settings: Settings):
    from jinshu.protect.keyring import KeyringError
    from jinshu.protect.keys import data_keyring

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
    from jinshu.protect.rotation import key_counts

    settings = Settings.from_env()
    keyring = _keyring(settings)
    counts = key_counts(store_of(settings), contracts_of(settings))
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
    by: Actor = None,
) -> None:
    """Re-encrypt every stored value to the active key, then verify every value.

    With keys in JINSHU_DATA_KEYS or an Airflow connection: add the new key there, make it
    active, keep the old ones, then run with --no-new-key.
    """
    from datetime import UTC, datetime

    from jinshu.protect import rotation
    from jinshu.protect.keyring import KeyringError

    settings = Settings.from_env()
    engine, contracts = store_of(settings), contracts_of(settings)
    _keyring(settings)
    if new_key:
        try:
            keyring = rotation.add_local_key(settings, engine, operator(by), datetime.now(UTC))
        except KeyringError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from error
        typer.echo(f"new active key '{keyring.active}' added to {keyring.source}")
    protector = keys.protector(settings)
    try:
        report = rotation.rotate(engine, contracts, protector, datetime.now(UTC), chunk_rows,
                                 actor=operator(by))
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
    from jinshu.protect import rotation

    settings = Settings.from_env()
    _echo_verify(rotation.verify(store_of(settings), contracts_of(settings),
                                 keys.protector(settings)))


@keys_app.command("retire")
def keys_retire(key_id: Annotated[str, typer.Argument(help="id of the key to drop")],
                by: Actor = None) -> None:
    """Drop a key from the keyring; refused while it is active or any stored value uses it.

    Store backups taken before the rotation still need the key: escrow a copy first.
    """
    from datetime import UTC, datetime

    from jinshu.protect import rotation
    from jinshu.protect.keyring import KeyringError

    settings = Settings.from_env()
    keyring = _keyring(settings)
    try:
        remaining = rotation.retire_local_key(settings, store_of(settings), contracts_of(settings),
                                              key_id, operator(by), datetime.now(UTC))
    except KeyringError as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(1) from error
    if remaining is None:
        typer.echo(f"no stored value uses '{key_id}': remove it from {keyring.source}")
        return
    typer.echo(f"key '{key_id}' retired; keys left: {', '.join(sorted(remaining.keys))}")
