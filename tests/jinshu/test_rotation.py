"""Key rotation on a real store (SQLite and PostgreSQL): nothing lost, nothing changed, verifiable."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.cli.common import os_user
from jinshu.dev.generate import generate_extract
from jinshu.govern import audit
from jinshu.protect import crypto, keys, rotation
from jinshu.protect.keyring import KeyringError
from jinshu.protect.keys import data_keyring, local_keyring_path, save_local_keyring
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from tests.helpers import ingest_file, make_settings, original_of, stored_records, table_rows

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ROWS = 30
SEALED = ("id_number", "ethnicity")


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


@pytest.fixture
def ingested(settings, contracts, household):
    """A real extract (one row with a bad ID, quarantined and sealed) stored under key k1."""
    name, data = generate_extract(household, ROWS, seed=11, faults=frozenset({"bad_checksum"}))
    result = ingest_file(settings, contracts, household, name, data)
    assert result.batch.stored == ROWS - 1 and len(result.quarantine) == 1
    return result


def records(settings, contract) -> dict[str, dict]:
    return {r._subject_key: vars(r) for r in stored_records(settings, contract)}


def raw(settings, contract) -> dict[str, sa.Row]:
    return {r._subject_key: r for r in table_rows(settings, contract.table)}


def key_ids(settings, contract) -> set[str]:
    return {crypto.key_id_of(getattr(r, f)) for r in table_rows(settings, contract.table)
            for f in SEALED if getattr(r, f) is not None}


def new_key(settings) -> crypto.Protector:
    """Add a fresh active key to the local keyring; the protector that uses it."""
    save_local_keyring(settings, data_keyring(settings).with_new_key())
    return keys.protector(settings)


def rotate(settings, contracts, protector, **kwargs) -> rotation.RotationReport:
    return rotation.rotate(engine_for(settings.store_url), contracts, protector, NOW, **kwargs)


def verify(settings, contracts) -> rotation.VerifyReport:
    return rotation.verify(engine_for(settings.store_url), contracts, keys.protector(settings))


def audit_actions(settings) -> list[str]:
    with engine_for(settings.store_url).connect() as conn:
        assert audit.verify(conn).intact
        return conn.execute(sa.select(audit.audit_log.c.action)
                            .order_by(audit.audit_log.c.seq)).scalars().all()


def test_rotation_moves_every_value_to_the_new_key_and_changes_no_plaintext(
        settings, contracts, household, ingested):
    before, stored_before = records(settings, household), raw(settings, household)
    original_before = original_of(settings, household, ingested.quarantine[0])
    assert key_ids(settings, household) == {"k1"}

    report = rotate(settings, contracts, new_key(settings), chunk_rows=7)

    assert report.active == "k2" and report.complete
    ethnicities = sum(r["ethnicity"] is not None for r in before.values())
    assert report.reencrypted["household_registration"] == {
        "id_number": ROWS - 1, "ethnicity": ethnicities, crypto.ORIGINALS: 1}
    assert records(settings, household) == before  # every plaintext identical
    stored_after = raw(settings, household)
    assert key_ids(settings, household) == {"k2"}
    for subject, row in stored_after.items():  # blind indexes and hashes untouched
        old = stored_before[subject]
        assert (row._bidx_ethnicity, row._record_hash) == (old._bidx_ethnicity, old._record_hash)
        assert row.id_number != old.id_number
    [sealed] = [r for r in table_rows(settings, "quarantine")]
    assert crypto.key_id_of(sealed.original) == "k2"
    assert original_of(settings, household, sealed) == original_before

    checked = verify(settings, contracts)
    assert checked.ok and checked.not_active == 0 and checked.mismatches == 0
    assert {k for _, _, k in checked.counts} == {"k2"}
    assert checked.checked == ROWS - 1 + ethnicities + 1
    assert audit_actions(settings)[-2:] == ["key_rotation_started", "key_rotation"]
    assert rotate(settings, contracts, keys.protector(settings)).total == 0  # nothing left


def test_interrupted_rotation_leaves_every_value_readable_and_resumes(
        settings, contracts, household, ingested):
    before = records(settings, household)
    protector = new_key(settings)

    first = rotate(settings, contracts, protector, chunk_rows=5, max_chunks=1)
    assert first.interrupted and first.total == 5
    assert key_ids(settings, household) == {"k1", "k2"}  # a mix, every value readable
    assert records(settings, household) == before
    halfway = verify(settings, contracts)
    assert halfway.mismatches == 0 and halfway.not_active == halfway.checked - 5
    assert not halfway.ok

    second = rotate(settings, contracts, protector, chunk_rows=5)
    assert second.complete and first.total + second.total == halfway.checked
    assert key_ids(settings, household) == {"k2"}
    assert records(settings, household) == before
    assert verify(settings, contracts).ok
    assert audit_actions(settings).count("key_rotation") == 2


def plaintexts(settings, contract, but: str) -> set[str]:
    """Clear sensitive values of every row but ``but`` (whose value no longer decrypts)."""
    rows = [r for r in table_rows(settings, contract.table) if r._subject_key != but]
    protector = keys.protector(settings)
    return {v for f in SEALED for v in protector.decrypt(
        pd.Series([getattr(r, f) for r in rows if getattr(r, f)], dtype="str"), contract, f,
        crypto.subject_rows(pd.Series([r._subject_key for r in rows if getattr(r, f)],
                                      dtype="str")))}


def _tamper(settings, contract, subject: str, field: str, envelope: str) -> None:
    table = contract.table
    with engine_for(settings.store_url).begin() as conn:
        conn.execute(sa.text(f'UPDATE "{table}" SET "{field}" = :v WHERE _subject_key = :s'),
                     {"v": envelope, "s": subject})


def _flip(envelope: str) -> str:
    head, body = envelope.rsplit(":", 1)
    middle = len(body) // 2
    return f"{head}:{body[:middle]}{'B' if body[middle] == 'A' else 'A'}{body[middle + 1:]}"


def test_verify_and_rotate_detect_a_tampered_envelope(settings, contracts, household, ingested):
    stored = raw(settings, household)
    subject, row = sorted(stored.items())[3]
    _tamper(settings, household, subject, "id_number", _flip(row.id_number))
    plain = plaintexts(settings, household, but=subject)

    report = verify(settings, contracts)
    assert report.mismatches == 1 and not report.ok
    [mismatch] = report.samples
    assert (mismatch.dataset, mismatch.field, mismatch.problem) == (
        "household_registration", "id_number", rotation.UNDECRYPTABLE)
    assert mismatch.row == f"_subject_key={subject}"
    text = "\n".join(report.lines())
    assert not any(value in text for value in plain)  # no plaintext in the report

    with pytest.raises(rotation.RotationError, match=r"ds_household_registration\.id_number") as err:
        rotate(settings, contracts, new_key(settings))
    assert subject in str(err.value) and not any(value in str(err.value) for value in plain)
    assert key_ids(settings, household) == {"k1"}  # the failing chunk wrote nothing


def test_verify_and_rotate_detect_a_value_swapped_between_rows(settings, contracts, household,
                                                               ingested):
    before = records(settings, household)
    (one, first), (other, _) = sorted(raw(settings, household).items())[:2]
    _tamper(settings, household, other, "id_number", first.id_number)  # bound to the other row

    report = verify(settings, contracts)
    [mismatch] = report.samples
    assert (mismatch.field, mismatch.problem, mismatch.row) == (
        "id_number", rotation.UNDECRYPTABLE, f"_subject_key={other}")
    assert before[one]["id_number"] not in "\n".join(report.lines())
    with pytest.raises(rotation.RotationError, match=other):
        rotate(settings, contracts, new_key(settings))


def test_a_value_changed_during_rotation_is_not_overwritten(pg_url, tmp_path, contracts,
                                                            household, monkeypatch):
    """Another writer re-stores a value between the chunk's read and its write: theirs wins."""
    settings = make_settings(tmp_path / "home", store_url=pg_url)
    name, data = generate_extract(household, 10, seed=2)
    ingest_file(settings, contracts, household, name, data)
    before = records(settings, household)
    subject = sorted(before)[0]
    theirs = keys.protector(settings).encrypt(
        pd.Series([before[subject]["id_number"]], dtype="str"), household, "id_number",
        crypto.subject_rows(pd.Series([subject], dtype="str")))[0]
    page = rotation._page

    def page_then_concurrent_write(conn, target, *args, **kwargs):
        rows = page(conn, target, *args, **kwargs)
        if target.field == "id_number" and rows:
            _tamper(settings, household, subject, "id_number", theirs)  # its own transaction
        return rows

    monkeypatch.setattr(rotation, "_page", page_then_concurrent_write)
    report = rotate(settings, contracts, new_key(settings))
    assert report.skipped == 1 and not report.complete
    assert raw(settings, household)[subject].id_number == theirs  # not overwritten
    monkeypatch.setattr(rotation, "_page", page)
    assert rotate(settings, contracts, keys.protector(settings)).total == 1  # the next run
    assert records(settings, household) == before and verify(settings, contracts).ok


def test_retiring_a_key_in_use_is_refused(settings, contracts, household, ingested):
    engine = engine_for(settings.store_url)
    protector = new_key(settings)
    keyring = protector.keyring
    with pytest.raises(rotation.KeyInUse, match="key 'k1' still encrypts"):
        rotation.retire(engine, contracts, keyring, "k1")
    rotate(settings, contracts, protector, chunk_rows=4, max_chunks=2)
    with pytest.raises(rotation.KeyInUse, match=r"household_registration\.id_number"):
        rotation.retire(engine, contracts, keyring, "k1")
    rotate(settings, contracts, protector)
    assert set(rotation.retire(engine, contracts, keyring, "k1").keys) == {"k2"}
    with pytest.raises(KeyringError, match="active key"):
        rotation.retire(engine, contracts, keyring, "k2")
    with pytest.raises(KeyringError, match="no key 'k7'"):
        rotation.retire(engine, contracts, keyring, "k7")


# -- the command line (embedded defaults: SQLite and the local keyring) -------------------------

runner = CliRunner()


@pytest.fixture
def cli_settings(tmp_path, monkeypatch, contracts, household):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))
    for name in ("JINSHU_STORE_URL", "JINSHU_LANDING_URL", "JINSHU_DATA_KEYS", "JINSHU_KEYS_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    settings = make_settings(tmp_path / "home")
    name, data = generate_extract(household, 12, seed=5)
    ingest_file(settings, contracts, household, name, data)
    return settings


def key_material(settings) -> list[str]:
    return list(json.loads(local_keyring_path(settings).read_text())["keys"].values())


def invoke(*args: str):
    return runner.invoke(app, ["keys", *args])


def test_cli_status_rotate_and_retire(cli_settings, household):
    settings = cli_settings
    status = invoke("status")
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[1].startswith("  k1 (active): ")
    assert any(line.startswith("household_registration.id_number ") and line.endswith(" k1=12")
               for line in lines)

    refused = invoke("retire", "k1")
    assert refused.exit_code == 1 and "is the active key" in refused.output

    before = records(settings, household)
    rotated = invoke("rotate", "--chunk-rows", "5", "--by", "ops")
    assert rotated.exit_code == 0, rotated.output
    assert "new active key 'k2'" in rotated.output and "verified" in rotated.output
    assert "household_registration: id_number=12" in rotated.output
    assert records(settings, household) == before and key_ids(settings, household) == {"k2"}

    status = invoke("status")
    assert "k1: 0 value(s)" in status.output and "k2 (active): " in status.output
    material = key_material(settings)
    for result in (status, rotated):
        assert not any(hex_key in result.output for hex_key in material)

    retired = invoke("retire", "k1", "--by", "ops")
    assert retired.exit_code == 0, retired.output
    assert set(data_keyring(settings).keys) == {"k2"}
    assert records(settings, household) == before
    with engine_for(settings.store_url).connect() as conn:
        entries = conn.execute(sa.select(audit.audit_log)).all()
    actions = [(e.action, e.actor) for e in entries if e.action.startswith("key_")]
    me = f"cli:{os_user()} (note: ops)"  # the OS account; --by is a note beside it
    assert actions == [("key_created", me), ("key_rotation_started", me),
                       ("key_rotation", me), ("key_retired", me)]
    assert invoke("verify").exit_code == 0


def test_cli_retire_refuses_while_values_use_the_key(cli_settings):
    save_local_keyring(cli_settings, data_keyring(cli_settings).with_new_key())
    result = invoke("retire", "k1")
    assert result.exit_code == 1
    assert "refused: key 'k1' still encrypts" in result.output
    assert "k1" in data_keyring(cli_settings).keys


def test_cli_rotate_with_keys_from_the_environment(cli_settings, household, monkeypatch):
    local = data_keyring(cli_settings)
    env_keys = {"active": "k5", "keys": {"k1": local.keys["k1"].hex(), "k5": "ab" * 32}}
    monkeypatch.setenv("JINSHU_DATA_KEYS", json.dumps(env_keys))
    settings = Settings.from_env()

    refused = invoke("rotate")
    assert refused.exit_code == 2 and "--no-new-key" in refused.output
    rotated = invoke("rotate", "--no-new-key")
    assert rotated.exit_code == 0, rotated.output
    assert key_ids(settings, household) == {"k5"}
    assert len(records(settings, household)) == 12
    retired = invoke("retire", "k1")
    assert retired.exit_code == 0 and "remove it from env" in retired.output
    assert "ab" * 32 not in rotated.output + retired.output


def test_cli_verify_fails_on_a_tampered_value(cli_settings, household):
    subject, row = next((s, r) for s, r in sorted(raw(cli_settings, household).items())
                        if r.ethnicity is not None)
    _tamper(cli_settings, household, subject, "ethnicity", _flip(row.ethnicity))
    result = invoke("verify")
    assert result.exit_code == 1
    assert f"MISMATCH household_registration.ethnicity at _subject_key={subject}" in result.output
