"""Key material: from the environment or an Airflow connection in production,
generated locally otherwise. Keys are never logged and never committed.

Two kinds of key:

* the **index key** (``JINSHU_PSEUDONYM_KEY``, hex): HMAC key of subject
  pseudonyms and blind indexes. It is long-lived: changing it changes every
  pseudonym, so it is not part of rotation.
* the **data keyring**: AES-256 keys by id, one of them active. New values
  are encrypted under the active key; every stored value names its key, so
  older keys keep decrypting until rotation has moved every value off them.
  Sources, first found wins: ``JINSHU_DATA_KEYS`` (JSON ``{"active": id,
  "keys": {id: hex}}``), the Airflow connection named by
  ``JINSHU_KEYS_CONN_ID`` (same JSON in its ``extra``; Airflow masks it in
  task logs), or ``$JINSHU_HOME/keys/data-keys.json``, created on first use
  with 0600 permissions.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from jinshu.protect.crypto import Protector
from jinshu.protect.keyring import KEY_BYTES, Keyring, KeyringError
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.settings import Settings

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


def _local_key(path: Path) -> bytes:
    if not path.exists():
        _write_private(path, secrets.token_hex(KEY_BYTES))
    return bytes.fromhex(path.read_text().strip())


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key for subject pseudonyms and blind indexes."""
    if settings.pseudonym_key_hex:
        key = bytes.fromhex(settings.pseudonym_key_hex)
        if len(key) < KEY_BYTES:
            raise ValueError("JINSHU_PSEUDONYM_KEY must be at least 64 hex characters (32 bytes)")
        return key
    return _local_key(settings.keys_dir / "pseudonym.key")


def local_keyring_path(settings: Settings) -> Path:
    return settings.keys_dir / _KEYRING_FILE


def data_keyring(settings: Settings) -> Keyring:
    """The data keyring from the first source that has one (see the module doc)."""
    if settings.data_keys_json:
        return Keyring.parse(settings.data_keys_json, "env")
    if settings.keys_conn_id:
        from airflow.sdk import Connection  # only where keys live in Airflow

        extra = Connection.get(settings.keys_conn_id).extra or "{}"
        return Keyring.parse(extra, f"airflow:{settings.keys_conn_id}")
    path = local_keyring_path(settings)
    if not path.exists():
        _write_private(path, Keyring("k1", {"k1": secrets.token_bytes(KEY_BYTES)}, str(path)).dumps())
    return Keyring.parse(path.read_text(), str(path))


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
