"""Encryption at rest: no sensitive value stored in the clear, envelopes bound to their field."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from jinshu.protect import crypto, keys
from jinshu.protect.keyring import Keyring, KeyringError
from jinshu.protect.keys import data_keyring
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.share import exchange
from jinshu.store.engine import engine_for
from jinshu.vocab import mask
from tests.helpers import ingest_file, make_settings, stored_records

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地行政区划代码,住址,登记日期\n"
PLANTED_IDS = ["140105199803071232", "14010520010815068X", "11010519491231002X"]
PLANTED_ETHNICITY = "珞巴族"  # rare: appears nowhere else in the store
ROWS = [
    f"{PLANTED_IDS[0]},张伟,1,1998-03-07,{PLANTED_ETHNICITY},140105,山西省太原市小店区坞城路1号,2020-01-02",
    f"{PLANTED_IDS[1]},李娜,2,2001-08-15,汉族,140105,山西省太原市小店区长风街2号,2021-05-06",
    f"{PLANTED_IDS[2]},王芳,2,1949-12-31,{PLANTED_ETHNICITY},140105,,",
]


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


@pytest.fixture
def protector():
    keyring = Keyring("k1", {"k1": os.urandom(32), "k2": os.urandom(32)}, "test")
    return crypto.Protector(keyring, Pseudonymizer(os.urandom(32)))


def every_stored_text(settings) -> str:
    with engine_for(settings.store_url).connect() as conn:
        return "\n".join(repr(tuple(row)) for table in sa.inspect(conn).get_table_names()
                         for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')))


def test_the_store_holds_no_sensitive_value_in_the_clear(settings, contracts, household):
    data = (HEADER + "".join(r + "\n" for r in ROWS)).encode()
    result = ingest_file(settings, contracts, household, "people.csv", data)
    assert result.batch.stored == 3
    raw = every_stored_text(settings)
    for planted in [*PLANTED_IDS, PLANTED_ETHNICITY]:
        assert planted not in raw
    assert "张伟" in raw  # personal, not sensitive: stored in the clear, masked on the way out
    clear = {r.id_number: r.ethnicity for r in stored_records(settings, household)}
    assert clear == {PLANTED_IDS[0]: PLANTED_ETHNICITY, PLANTED_IDS[1]: "汉族",
                     PLANTED_IDS[2]: PLANTED_ETHNICITY}


def rows_of(*subjects: str) -> pd.Series:
    return crypto.subject_rows(pd.Series(list(subjects), dtype="str"))


def test_envelopes_round_trip_and_name_their_key(protector, household):
    values = pd.Series([PLANTED_IDS[0], None, PLANTED_IDS[1], PLANTED_IDS[0]], dtype="str")
    rows = rows_of("a1", "a2", "a3", "a4")
    sealed = protector.encrypt(values, household, "id_number", rows)
    assert sealed.isna().tolist() == [False, True, False, False]
    assert {crypto.key_id_of(v) for v in sealed.dropna()} == {"k1"}
    assert sealed[0] != sealed[2] and sealed[0] != sealed[3]  # same value, another row
    assert protector.decrypt(sealed, household, "id_number", rows).tolist() == values.tolist()
    again = protector.encrypt(values, household, "id_number", rows, key_id="k2")
    assert again[0] != sealed[0]
    assert protector.decrypt(again, household, "id_number", rows).tolist() == values.tolist()


def test_a_value_moved_to_another_field_or_modified_fails_to_decrypt(protector, household):
    rows = rows_of("a1")
    sealed = protector.encrypt(pd.Series([PLANTED_IDS[0]], dtype="str"), household, "id_number",
                               rows)
    with pytest.raises(crypto.UndecryptableValue, match=r"ds_household_registration\.ethnicity"):
        protector.decrypt(sealed, household, "ethnicity", rows)
    key_id, version, body = sealed[0].split(":")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    with pytest.raises(crypto.UndecryptableValue, match="fails authentication"):
        protector.decrypt(pd.Series([f"{key_id}:{version}:{flipped}"], dtype="str"), household,
                          "id_number", rows)


def test_a_value_under_an_unknown_key_names_the_key(protector, household):
    sealed = protector.encrypt(pd.Series(["x"], dtype="str"), household, "id_number", rows_of("a"))
    orphan = "k9:" + sealed[0].split(":", 1)[1]
    with pytest.raises(KeyringError, match="no key 'k9'"):
        protector.decrypt(pd.Series([orphan], dtype="str"), household, "id_number", rows_of("a"))


def test_blind_index_matches_equal_values_without_revealing_them(protector, household):
    frame = pd.DataFrame({f: ["a"] * 2 for f in household.field_names})
    frame["ethnicity"] = [PLANTED_ETHNICITY, PLANTED_ETHNICITY]
    frame["id_number"] = ["140105199803071232", "14010520010815068X"]
    out = protector.protect(frame, household)
    index = out["_bidx_ethnicity"]
    assert index[0] == index[1] == protector.pseudonyms.one(PLANTED_ETHNICITY)
    assert out["_subject_key"].tolist() == [  # the ID's blind index is the subject pseudonym
        protector.pseudonyms.one("140105199803071232"), protector.pseudonyms.one("14010520010815068X")]
    assert PLANTED_ETHNICITY not in out.to_string()


def test_local_keyring_is_created_private_and_reused(tmp_path):
    settings = make_settings(tmp_path)
    settings.keys_dir.mkdir(parents=True, mode=0o755)  # made earlier, readable by all
    first = data_keyring(settings)
    path = settings.keys_dir / "data-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.keys_dir.stat().st_mode) == 0o700
    assert data_keyring(settings).keys == first.keys
    assert first.keys[first.active].hex() not in repr(first)


def test_keyring_from_env_and_from_an_airflow_connection(tmp_path, monkeypatch):
    key = os.urandom(32).hex()
    doc = f'{{"active": "k3", "keys": {{"k3": "{key}"}}}}'
    from_env = data_keyring(make_settings(tmp_path).__class__.from_env(
        {"JINSHU_HOME": str(tmp_path), "JINSHU_DATA_KEYS": doc}))
    assert (from_env.active, from_env.keys["k3"].hex(), from_env.source) == ("k3", key, "env")
    monkeypatch.setenv("AIRFLOW_CONN_JINSHU_KEYS",
                       f'{{"conn_type": "generic", "extra": {doc}}}')
    settings = make_settings(tmp_path).__class__.from_env(
        {"JINSHU_HOME": str(tmp_path), "JINSHU_KEYS_CONN_ID": "jinshu_keys"})
    from_airflow = data_keyring(settings)
    assert (from_airflow.keys["k3"].hex(), from_airflow.source) == (key, "airflow:jinshu_keys")
    assert not (tmp_path / "keys" / "data-keys.json").exists()
    assert key not in repr(settings)


def test_malformed_keyrings_are_refused_with_the_fix():
    with pytest.raises(KeyringError, match="active key 'k2' is not in it"):
        Keyring.parse('{"active": "k2", "keys": {"k1": "' + "00" * 32 + '"}}', "env")
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring.parse('{"active": "k1", "keys": {"k1": "00"}}', "env")
    with pytest.raises(KeyringError, match="not JSON"):
        Keyring.parse("k1=abc", "env")


def test_the_exchange_gets_masks_of_the_clear_values_not_ciphertext(settings, contracts,
                                                                      household):
    data = (HEADER + "".join(r + "\n" for r in ROWS)).encode()
    ingest_file(settings, contracts, household, "people.csv", data)
    engine = engine_for(settings.store_url)
    with pytest.raises(ValueError, match="needs the keys"):
        exchange.publish(engine, household, datetime.now(UTC))
    assert exchange.publish(engine, household, datetime.now(UTC),
                            keys.protector(settings)) == 3
    with engine.connect() as conn:
        shared = conn.execute(sa.text("SELECT id_number, ethnicity FROM ex_household_registration"
                                      " ORDER BY id_number")).all()
    expected = mask.apply("cn_ric", pd.Series(sorted(PLANTED_IDS), dtype="str")).tolist()
    assert sorted(r.id_number for r in shared) == sorted(expected)
    assert not any(":" in (r.ethnicity or "") or PLANTED_ETHNICITY in (r.ethnicity or "")
                   for r in shared)


def _swap(settings, table: str, field: str, one: str, other: str) -> None:
    """Exchange two rows' envelopes of ``field`` (rows named by subject pseudonym)."""
    with engine_for(settings.store_url).begin() as conn:
        got = dict(conn.execute(sa.text(f'SELECT _subject_key, "{field}" FROM "{table}" '
                                        "WHERE _subject_key IN (:a, :b)"),
                                {"a": one, "b": other}).all())
        for subject, envelope in ((one, got[other]), (other, got[one])):
            conn.execute(sa.text(f'UPDATE "{table}" SET "{field}" = :v WHERE _subject_key = :s'),
                         {"v": envelope, "s": subject})


def test_an_envelope_swapped_between_rows_fails_on_publish_naming_the_row(settings, contracts,
                                                                           household):
    data = (HEADER + "".join(r + "\n" for r in ROWS)).encode()
    ingest_file(settings, contracts, household, "people.csv", data)
    pseudonyms = keys.protector(settings).pseudonyms
    one, other = pseudonyms.one(PLANTED_IDS[0]), pseudonyms.one(PLANTED_IDS[1])
    _swap(settings, household.table, "ethnicity", one, other)  # 珞巴族 <-> 汉族
    engine = engine_for(settings.store_url)
    with pytest.raises(crypto.UndecryptableValue) as swapped:
        exchange.publish(engine, household, datetime.now(UTC), keys.protector(settings))
    message = str(swapped.value)
    assert "ds_household_registration.ethnicity at row _subject_key=" in message
    assert one in message or other in message
    assert not any(v in message for v in [*PLANTED_IDS, PLANTED_ETHNICITY, "汉族"])
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("ex_household_registration") or not conn.execute(
            sa.text("SELECT count(*) FROM ex_household_registration")).scalar()


def test_envelopes_from_before_row_binding_are_refused_until_rotation_rebinds_them(
        settings, contracts, household):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from jinshu.protect import rotation

    data = (HEADER + "".join(r + "\n" for r in ROWS)).encode()
    ingest_file(settings, contracts, household, "people.csv", data)
    keyring = keys.data_keyring(settings)
    subject = keys.protector(settings).pseudonyms.one(PLANTED_IDS[1])
    nonce = os.urandom(12)  # as envelopes were written before: bound to the field only
    body = nonce + AESGCM(keyring.keys["k1"]).encrypt(nonce, "汉族".encode(),
                                                       b"household_registration.ethnicity")
    legacy = "k1:" + base64.b64encode(body).decode()
    engine = engine_for(settings.store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ds_household_registration SET ethnicity = :v "
                             "WHERE _subject_key = :s"), {"v": legacy, "s": subject})
    with pytest.raises(crypto.UnboundEnvelope, match="jinshu keys rotate --no-new-key"):
        stored_records(settings, household)
    contracts_ = {household.id: household}
    report = rotation.verify(engine, contracts_, keys.protector(settings))
    assert (report.unbound, report.ok) == (1, False)
    moved = rotation.rotate(engine, contracts_, keys.protector(settings), datetime.now(UTC))
    assert moved.reencrypted[household.id]["ethnicity"] == 1
    assert rotation.verify(engine, contracts_, keys.protector(settings)).ok
    clear = {r.id_number: r.ethnicity for r in stored_records(settings, household)}
    assert clear[PLANTED_IDS[1]] == "汉族"


@pytest.mark.parametrize("size", [0, 5, 16, 17, 40], ids=lambda n: f"{n}-bytes")
def test_a_sealed_file_opens_only_for_its_dataset_and_batch(protector, monkeypatch, size):
    monkeypatch.setattr(crypto, "SEGMENT_BYTES", 8)  # several segments, on a small file
    data = ("140105199803071232," * 3).encode()[:size]
    sealed = protector.seal_file(data, "household_registration", "household_registration-1")
    assert protector.open_file(sealed, "household_registration", "household_registration-1") == data
    assert not data or data not in sealed
    for dataset, batch in (("household_registration", "household_registration-2"),
                           ("social_insurance_enrollment", "household_registration-1")):
        with pytest.raises(crypto.UndecryptableValue, match="sealed for another dataset or batch"):
            protector.open_file(sealed, dataset, batch)


def test_a_sealed_file_cut_short_or_changed_fails_to_open(protector, monkeypatch):
    monkeypatch.setattr(crypto, "SEGMENT_BYTES", 8)
    sealed = protector.seal_file(b"0123456789abcdefghij", "d", "d-1")
    last_segment = crypto.NONCE_BYTES + 4 + crypto.TAG_BYTES  # 20 bytes: 8 + 8 + 4
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    for damaged in (sealed[:-8], sealed[:-last_segment], bytes(flipped), b"not sealed at all"):
        with pytest.raises(crypto.UndecryptableValue, match="Fix: restore it"):
            protector.open_file(damaged, "d", "d-1")
