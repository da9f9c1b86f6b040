"""Key material: from the environment or an Airflow connection in production,
generated locally only for the embedded SQLite store. Keys are never logged
and never committed.

Three kinds of key:

* the **index key** (``JINSHU_PSEUDONYM_KEY``, hex): HMAC key of subject
  pseudonyms and blind indexes. It is long-lived: changing it changes every
  pseudonym, so it is not part of rotation.
* the **audit key** (``JINSHU_AUDIT_KEY``, hex): HMAC key of the audit log's
  chain (:mod:`jinshu.govern.audit`), held outside the store it protects.
* the **data keyring**: AES-256 keys by id, one of them active. New values
  are encrypted under the active key; every stored value names its key, so
  older keys keep decrypting until rotation has moved every value off them.

Sources, first found wins: the environment (``JINSHU_PSEUDONYM_KEY``,
``JINSHU_AUDIT_KEY``, ``JINSHU_DATA_KEYS`` as JSON ``{"active": id, "keys":
{id: hex}}``), the Airflow connection named by ``JINSHU_KEYS_CONN_ID`` (the
keyring JSON in its ``extra``, with ``index_key`` and ``audit_key`` beside
it; Airflow masks it in task logs), or ``$JINSHU_HOME/keys/`` (``pseudonym.key``,
``audit.key``, ``data-keys.json``, 0600).

**Fail closed.** A key found nowhere is generated only for the embedded SQLite
store (:attr:`Settings.generates_keys`); anywhere else, or with
``JINSHU_KEYS_MUST_EXIST=1``, it is a :class:`MissingKey` error naming the
setting to fix: a worker that made its own keys would store known people
again under new pseudonyms. **Check values.** The store keeps, per key, a
check value in ``key_checks`` (an HMAC of a fixed label under the index or
audit key; an AES-GCM encryption of it under each data key id, bound to the
id), written the first time the key is used with the store. A key that does
not match its check value is refused with :class:`WrongKey` ("wrong key"),
before anything is written or read with it.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from jinshu.protect.crypto import Protector
from jinshu.protect.keyring import (
    KEY_BYTES,
    Keyring,
    KeyringError,
    WrongKey,
    data_check,
    holds,
    mac_check,
)
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.settings import Settings
from jinshu.store import dialect
from jinshu.store.engine import engine_for
from jinshu.store.tables import key_checks

_KEYRING_FILE = "data-keys.json"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with 0600 permissions, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)  # also when it existed before
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


class MissingKey(KeyringError):
    """A key is nowhere to be found, and this store does not let jinshu make one."""


def _missing(settings: Settings, what: str, setting: str, path: Path) -> MissingKey:
    where = (" nor in the Airflow connection " + repr(settings.keys_conn_id)
             if settings.keys_conn_id else "")
    why = ("JINSHU_KEYS_MUST_EXIST is set" if settings.keys_must_exist
           else "the store is not the embedded SQLite default")
    return MissingKey(
        f"the {what} is missing: {setting} is not set{where}, and {path} does not exist. "
        f"Keys are generated only for the embedded SQLite store, and {why}: a new key would "
        f"store known records again under new pseudonyms. Fix: set {setting} to the {what} this "
        f"store was written with (or restore {path}); never let a worker make its own")


def _connection_extra(settings: Settings) -> dict | None:
    """The JSON ``extra`` of the keys' Airflow connection, if one is configured."""
    if not settings.keys_conn_id:
        return None
    from airflow.sdk import Connection  # only where keys live in Airflow

    text = Connection.get(settings.keys_conn_id).extra or "{}"
    try:
        return json.loads(text)
    except ValueError as error:
        raise KeyringError(f"Airflow connection '{settings.keys_conn_id}': extra is not JSON. "
                           "Fix: store the keys there as JSON") from error


def _mac_key(settings: Settings, hex_text: str | None, extra_name: str, file_name: str,
             what: str, setting: str) -> bytes:
    """An HMAC key from the environment, the Airflow connection or the local keys folder."""
    extra = _connection_extra(settings) if not hex_text else None
    hex_text = hex_text or (extra or {}).get(extra_name)
    path = settings.keys_dir / file_name
    if not hex_text:
        if not path.exists():
            if not settings.generates_keys:
                raise _missing(settings, what, setting, path)
            _write_private(path, secrets.token_hex(KEY_BYTES))
        hex_text = path.read_text().strip()
    try:
        key = bytes.fromhex(hex_text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise KeyringError(f"the {what} must be at least 64 hex characters (32 bytes). "
                           f"Fix: set {setting} to it")
    return key


def _check(settings: Settings, keys: list[tuple[str, str, bytes]], names: dict[str, str],
           conn: sa.Connection | None = None) -> None:
    """Compare each (kind, key id, key) with the store's check value; record the new ones
    (in ``conn``'s transaction when given, else in one of its own)."""
    if conn is None:
        engine = engine_for(settings.store_url)
        key_checks.create(engine, checkfirst=True)
        with engine.begin() as own:
            _check_in(own, keys, names)
    else:
        key_checks.create(conn, checkfirst=True)
        _check_in(conn, keys, names)


def _check_in(conn: sa.Connection, keys: list[tuple[str, str, bytes]],
              names: dict[str, str]) -> None:
    known = {(r.kind, r.key_id) for r in conn.execute(sa.select(key_checks.c.kind,
                                                                key_checks.c.key_id))}
    new = [{"kind": kind, "key_id": key_id, "first_seen": datetime.now(UTC),
            "check_value": data_check(key_id, key) if kind == "data" else mac_check(key)}
           for kind, key_id, key in keys if (kind, key_id) not in known]
    if new:  # a worker recording the same key meanwhile wins; its value is compared below
        conn.execute(dialect.upsert(conn, key_checks).on_conflict_do_nothing(), new)
    stored = {(r.kind, r.key_id): r.check_value for r in conn.execute(sa.select(key_checks))}
    for kind, key_id, key in keys:
        if not holds(kind, key_id, key, stored[(kind, key_id)]):
            raise WrongKey(
                f"wrong key: {names[kind].format(key_id=key_id)} is not the key this store "
                "was written with (it does not match the check value kept in key_checks). "
                "Nothing was read or written with it. Fix: configure the key the store was "
                "written with; a genuinely new data key needs a new id")


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key for subject pseudonyms and blind indexes, checked against the store."""
    key = _mac_key(settings, settings.pseudonym_key_hex, "index_key", "pseudonym.key",
                   "index key", "JINSHU_PSEUDONYM_KEY")
    _check(settings, [("index", "-", key)], {"index": "the index key (JINSHU_PSEUDONYM_KEY)"})
    return key


def audit_key(settings: Settings, conn: sa.Connection | None = None) -> bytes:
    """The HMAC key of the audit log's chain, checked against the store (in ``conn``'s
    transaction when given: an audit entry is written inside its caller's)."""
    key = _mac_key(settings, settings.audit_key_hex, "audit_key", "audit.key", "audit key",
                   "JINSHU_AUDIT_KEY")
    _check(settings, [("audit", "-", key)], {"audit": "the audit key (JINSHU_AUDIT_KEY)"}, conn)
    return key


def local_keyring_path(settings: Settings) -> Path:
    return settings.keys_dir / _KEYRING_FILE


def _find_keyring(settings: Settings) -> Keyring:
    if settings.data_keys_json:
        return Keyring.parse(settings.data_keys_json, "env")
    extra = _connection_extra(settings)
    if extra is not None:
        return Keyring.parse(json.dumps(extra), f"airflow:{settings.keys_conn_id}")
    path = local_keyring_path(settings)
    if not path.exists():
        if not settings.generates_keys:
            raise _missing(settings, "data keyring", "JINSHU_DATA_KEYS (or JINSHU_KEYS_CONN_ID)",
                           path)
        _write_private(path, Keyring("k1", {"k1": secrets.token_bytes(KEY_BYTES)}, str(path)).dumps())
    return Keyring.parse(path.read_text(), str(path))


def data_keyring(settings: Settings) -> Keyring:
    """The data keyring from the first source that has one (see the module doc), each key
    checked against the store."""
    keyring = _find_keyring(settings)
    _check(settings, [("data", key_id, key) for key_id, key in sorted(keyring.keys.items())],
           {"data": f"data key '{{key_id}}' of {keyring.source}"})
    return keyring


def keyring_is_local(settings: Settings) -> bool:
    """The keyring is the embedded file, which jinshu may change (not env or Airflow)."""
    return not (settings.data_keys_json or settings.keys_conn_id)


def save_local_keyring(settings: Settings, keyring: Keyring) -> Path:
    """Replace the local keyring file (embedded default only)."""
    if not keyring_is_local(settings):
        raise KeyringError("the keyring comes from the environment or Airflow: change it there "
                        "(add the new key and make it active), then run the rotation")
    path = local_keyring_path(settings)
    _write_private(path, keyring.dumps())
    return path


def protector(settings: Settings) -> Protector:
    """The protector for this process's keys."""
    return Protector(data_keyring(settings), Pseudonymizer(pseudonym_key(settings)))
