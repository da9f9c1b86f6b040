"""A data keyring: AES-256 keys by id, one of them active. Pure: no environment, no files.

New values are encrypted under the active key; every stored value names its
key, so older keys keep decrypting until rotation has moved every value off
them. Where a keyring comes from is :mod:`jinshu.protect.keys`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
CHECK_LABEL = b"jinshu key check v1"  # what check values authenticate: never a key, never data


class KeyringError(LookupError):
    """A value names a key the keyring does not hold, or the keyring is malformed."""


class WrongKey(KeyringError):
    """A key does not match the check value the store keeps for it: not the key it was
    written with (as opposed to a value that was tampered with)."""


def mac_check(key: bytes) -> str:
    """Check value of an HMAC key (index or audit key): HMAC-SHA256 of a fixed label."""
    return hmac.new(key, CHECK_LABEL, hashlib.sha256).hexdigest()


def data_check(key_id: str, key: bytes) -> str:
    """Check value of a data key: an AES-GCM encryption of a fixed label under it."""
    nonce = os.urandom(12)
    return (nonce + AESGCM(key).encrypt(nonce, CHECK_LABEL, key_id.encode())).hex()


def holds(kind: str, key_id: str, key: bytes, check: str) -> bool:
    """Whether ``key`` is the key ``check`` was made with (``kind``: "data" or a MAC key)."""
    if kind != "data":
        return hmac.compare_digest(mac_check(key), check)
    raw = bytes.fromhex(check)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], key_id.encode()) == CHECK_LABEL
    except InvalidTag:
        return False


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
