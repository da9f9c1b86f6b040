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

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from jinshu.settings import Settings

KEY_BYTES = 32
_KEYRING_FILE = "data-keys.json"


class KeyringError(LookupError):
    """A value names a key the keyring does not hold, or the keyring is malformed."""


@dataclass(frozen=True)
class Keyring:
    """AES-256 data keys by id; ``active`` encrypts, all of them decrypt."""

    active: str
    keys: dict[str, bytes]
    source: str  # "env", "airflow:<conn id>" or the local file's path: never the keys

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"keyring ({self.source}): the active key '{self.active}' is not in it. "
                            "Fix: add it under 'keys' or name another key as 'active'")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES or not key_id.isalnum():
                raise KeyringError(f"keyring ({self.source}): key '{key_id}' must be {KEY_BYTES} bytes "
                                "(64 hex characters) under an alphanumeric id")

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyringError(f"no key '{key_id}' in the keyring ({self.source}). Fix: restore the "
                            "retired key, or the values encrypted under it stay unreadable") from None

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(active={self.active!r}, ids={sorted(self.keys)}, source={self.source!r})"

    @classmethod
    def parse(cls, text: str, source: str) -> Keyring:
        try:
            doc = json.loads(text)
            return cls(doc["active"], {k: bytes.fromhex(v) for k, v in doc["keys"].items()}, source)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise KeyringError(f"keyring ({source}) is not JSON of the form "
                            '{"active": id, "keys": {id: hex}}') from error

    def dumps(self) -> str:
        return json.dumps({"active": self.active,
                           "keys": {k: v.hex() for k, v in sorted(self.keys.items())}}, indent=2)

    def with_new_key(self) -> Keyring:
        """The same keyring plus a fresh key, which becomes the active one."""
        number = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        new_id = f"k{number}"
        return Keyring(new_id, {**self.keys, new_id: secrets.token_bytes(KEY_BYTES)}, self.source)

    def without(self, key_id: str) -> Keyring:
        if key_id == self.active:
            raise KeyringError(f"'{key_id}' is the active key. Fix: rotate to a new key first")
        return Keyring(self.active, {k: v for k, v in self.keys.items() if k != key_id}, self.source)


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
