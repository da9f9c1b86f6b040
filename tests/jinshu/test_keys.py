"""Keys fail closed: outside the embedded store a missing key is an error, a wrong one is
refused as the wrong key (checked against the store's check values), never silently replaced."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from jinshu.dev.generate import generate_extract
from jinshu.govern import audit
from jinshu.protect import keys
from jinshu.protect.keyring import WrongKey
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from tests.helpers import drop, ingest_file, make_settings, provision_keys, run_stages

PEOPLE = 250


def subjects(settings: Settings) -> set[str]:
    with engine_for(settings.store_url).connect() as conn:
        return set(conn.execute(sa.text("SELECT _subject_key FROM ds_household_registration"))
                   .scalars())


def worker(home, store_url: str, **env: str) -> Settings:
    """Another worker's settings for the same store (its own, possibly empty, keys folder)."""
    return Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url, **env})


@pytest.fixture
def written(pg_url, tmp_path, contracts):
    """A PostgreSQL store holding 250 people, written with the keys provisioned for it."""
    household = contracts["household_registration"]
    settings = make_settings(tmp_path / "first", store_url=pg_url)
    name, data = generate_extract(household, PEOPLE, seed=21)
    assert ingest_file(settings, contracts, household, name, data).batch.stored == PEOPLE
    return settings, household, data


def test_a_worker_with_an_empty_key_folder_refuses_instead_of_storing_people_again(
        written, tmp_path, contracts):
    first, household, data = written
    before = subjects(first)
    second = worker(tmp_path / "second", first.store_url, JINSHU_LANDING_URL=first.landing_url)
    assert not second.generates_keys
    drop(second, household, "resent.csv", data.replace(b"\n", b"\r\n"))  # same people, new bytes
    with pytest.raises(keys.MissingKey, match="JINSHU_PSEUDONYM_KEY") as missing:
        run_stages(second, contracts, household)
    assert "embedded SQLite" in str(missing.value)
    assert subjects(first) == before and len(before) == PEOPLE  # no one stored again
    assert not (second.keys_dir / "pseudonym.key").exists()
    for find, setting in ((keys.data_keyring, "JINSHU_DATA_KEYS"),
                          (keys.audit_key, "JINSHU_AUDIT_KEY")):
        with pytest.raises(keys.MissingKey, match=setting):
            find(second)


def test_keys_must_exist_also_holds_for_sqlite_when_set(tmp_path):
    strict = Settings.from_env({"JINSHU_HOME": str(tmp_path), "JINSHU_KEYS_MUST_EXIST": "1"})
    with pytest.raises(keys.MissingKey, match="JINSHU_KEYS_MUST_EXIST is set"):
        keys.pseudonym_key(strict)
    assert keys.pseudonym_key(make_settings(tmp_path / "embedded"))  # the default makes one


def test_a_wrong_key_is_refused_as_the_wrong_key(written, tmp_path):
    first, _, _ = written
    second = worker(tmp_path / "second", first.store_url)
    provision_keys(second)  # keys of its own: none of them wrote this store
    with pytest.raises(WrongKey, match=r"wrong key: the index key \(JINSHU_PSEUDONYM_KEY\)"):
        keys.pseudonym_key(second)
    with pytest.raises(WrongKey, match="wrong key: data key 'k1'"):
        keys.protector(second)
    audit.use_settings(second)
    with engine_for(second.store_url).connect() as conn, \
            pytest.raises(WrongKey, match=r"wrong key: the audit key"):
        audit.verify(conn)
    audit.use_settings(first)
    with engine_for(first.store_url).connect() as conn:
        assert audit.verify(conn).intact  # the right keys still pass


def test_check_values_never_hold_a_key(written):
    first, _, _ = written
    material = [keys.pseudonym_key(first).hex(), keys.audit_key(first).hex(),
                *(k.hex() for k in keys.data_keyring(first).keys.values())]
    with engine_for(first.store_url).connect() as conn:
        checks = conn.execute(sa.text("SELECT kind, key_id, check_value FROM key_checks")).all()
    assert {(c.kind, c.key_id) for c in checks} == {("index", "-"), ("audit", "-"), ("data", "k1")}
    assert not any(m in c.check_value for m in material for c in checks)


def test_a_key_from_the_airflow_connection_is_checked_too(written, tmp_path, monkeypatch):
    first, _, _ = written
    doc = {"active": "k1", "keys": {"k1": os.urandom(32).hex()},
           "index_key": keys.pseudonym_key(first).hex(), "audit_key": os.urandom(32).hex()}
    import json

    monkeypatch.setenv("AIRFLOW_CONN_JINSHU_KEYS",
                       json.dumps({"conn_type": "generic", "extra": json.dumps(doc)}))
    second = worker(tmp_path / "second", first.store_url, JINSHU_KEYS_CONN_ID="jinshu_keys")
    assert keys.pseudonym_key(second) == keys.pseudonym_key(first)  # from the connection
    with pytest.raises(WrongKey, match="wrong key: data key 'k1' of airflow:jinshu_keys"):
        keys.data_keyring(second)
    with pytest.raises(WrongKey, match="wrong key: the audit key"):
        keys.audit_key(second)
