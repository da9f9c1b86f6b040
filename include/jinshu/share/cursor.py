"""Opaque keyset cursors: the last key of a page, sealed so a consumer learns nothing from it.

The key is the platform's subject pseudonym for person datasets: handing it
out would let consumers link subjects across datasets, so the cursor is
AES-GCM under a key derived from the index key, bound to the dataset and the
consumer. Anything else is a :class:`MalformedCursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE = 12


class MalformedCursor(ValueError):
    """Not a cursor this exchange issued for this dataset and caller."""


def cursor_key(index_key: bytes) -> bytes:
    """A key of its own for cursors, derived from the index key."""
    return hmac.new(index_key, b"jinshu-exchange-cursor", hashlib.sha256).digest()


class Cursors:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Cursors(<key>)"

    def seal(self, values: tuple, dataset_id: str, consumer: str) -> str:
        nonce = os.urandom(NONCE)
        body = json.dumps(list(values), separators=(",", ":"), default=str).encode()
        sealed = nonce + self._aead.encrypt(nonce, body, f"{dataset_id}\x1f{consumer}".encode())
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, cursor: str, dataset_id: str, consumer: str, arity: int) -> tuple:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            body = self._aead.decrypt(raw[:NONCE], raw[NONCE:], f"{dataset_id}\x1f{consumer}".encode())
            values = json.loads(body)
        except (binascii.Error, InvalidTag, ValueError, UnicodeDecodeError) as error:
            raise MalformedCursor(_WHAT_TO_DO) from error
        if not isinstance(values, list) or len(values) != arity:
            raise MalformedCursor(_WHAT_TO_DO)
        return tuple(values)


_WHAT_TO_DO = ("the cursor is not one this exchange issued for this dataset and caller: pass "
               "next_cursor from the previous page unchanged, or omit it to start at the beginning")
