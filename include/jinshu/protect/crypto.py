"""Encryption at rest: AES-256-GCM envelopes and blind indexes of sensitive fields.

An envelope is ``<key id>:<base64(nonce | ciphertext | tag)>``: the key id
travels with the value, and ``<dataset>.<field>`` is bound as associated
data, so a value copied into another column or dataset fails to decrypt.
The blind index is HMAC-SHA256 under the index key (:mod:`jinshu.protect.keys`);
for the subject's identifier it is the subject pseudonym itself. Records are
matched and deduplicated on blind indexes, never on ciphertexts.

Encryption runs once per distinct value of a batch (with a fresh random
nonce each), so equal values in a batch share a ciphertext. That reveals no
more than the blind index already does: which stored values are equal.
"""

from __future__ import annotations

import binascii
import os
from functools import partial

import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jinshu.catalog import Contract
from jinshu.protect.keyring import Keyring
from jinshu.protect.policy import blind_index_column, encrypted_fields
from jinshu.protect.pseudonyms import SUBJECT_KEY, Pseudonymizer, per_distinct, per_distinct_each

NONCE_BYTES = 12
TAG_BYTES = 16
SEALED_FILE = b"jinshu-sealed-file/1\n"  # then "<key id>\n", then the segments
SEGMENT_BYTES = 16 << 20  # AES-GCM seals at most 2 GiB at once; a province-wide extract is more


class UndecryptableValue(ValueError):
    """A stored value fails authentication: tampered, moved, or under an unknown key."""


def _aad(contract: Contract, field: str) -> bytes:
    return f"{contract.id}.{field}".encode()


def _file_aad(dataset_id: str, batch_id: str, segment: int, last: bool) -> bytes:
    return f"{dataset_id}/{batch_id}/file/{segment}/{'last' if last else 'more'}".encode()


def key_id_of(envelope: str) -> str:
    return envelope.split(":", 1)[0]


def _seal(cipher: AESGCM, key_id: str, aad: bytes, values: list[str]) -> list[str]:
    """Envelopes of ``values`` under one key, each with a fresh random nonce."""
    encrypt, prefix = cipher.encrypt, f"{key_id}:"
    nonces = os.urandom(NONCE_BYTES * len(values))
    return [
        prefix + binascii.b2a_base64(nonce + encrypt(nonce, value.encode(), aad),
                                     newline=False).decode("ascii")
        for nonce, value in zip((nonces[i:i + NONCE_BYTES] for i in range(0, len(nonces), NONCE_BYTES)),
                                values, strict=True)
    ]


class Protector:
    """Encrypts, decrypts and blind-indexes a dataset's sensitive fields."""

    def __init__(self, keyring: Keyring, pseudonyms: Pseudonymizer) -> None:
        self.keyring, self.pseudonyms = keyring, pseudonyms
        self._ciphers: dict[str, AESGCM] = {}

    def _cipher(self, key_id: str) -> AESGCM:
        if key_id not in self._ciphers:
            self._ciphers[key_id] = AESGCM(self.keyring.key(key_id))
        return self._ciphers[key_id]

    def encrypt(self, values: pd.Series, contract: Contract, field: str,
                key_id: str | None = None) -> pd.Series:
        """Envelopes under ``key_id`` (default: the active key); missing stays missing."""
        return per_distinct(values, self._sealer(contract, field, key_id))

    def _sealer(self, contract: Contract, field: str, key_id: str | None = None):
        """Seals a list of ``field``'s values under ``key_id`` (default: the active key)."""
        key_id = key_id or self.keyring.active
        return partial(_seal, self._cipher(key_id), key_id, _aad(contract, field))

    def decrypt(self, envelopes: pd.Series, contract: Contract, field: str) -> pd.Series:
        """Clear values of ``field``; raises :class:`UndecryptableValue` on any bad envelope."""
        return per_distinct(envelopes, partial(self._open, contract, field))

    def _open(self, contract: Contract, field: str, envelopes: list[str]) -> list[str]:
        aad, clear = _aad(contract, field), []
        for envelope in envelopes:
            key_id, _, body = envelope.partition(":")
            cipher = self._cipher(key_id)  # an unknown key id raises KeyringError, naming it
            try:
                raw = binascii.a2b_base64(body, strict_mode=True)
                plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
            except (InvalidTag, ValueError) as error:
                raise UndecryptableValue(
                    f"{contract.table}.{field}: a value under key '{key_id}' fails authentication "
                    "(modified, or copied from another field). Fix: restore it from the source "
                    "extract") from error
            clear.append(plain.decode())
        return clear

    def seal_file(self, data: bytes, dataset_id: str, batch_id: str) -> bytes:
        """A whole file sealed under the active key, bound to its dataset and batch.

        Segments of :data:`SEGMENT_BYTES`, each with a fresh nonce; each segment's
        associated data names the dataset, the batch, its position and whether it is
        the last, so segments cannot be reordered, dropped or cut off unnoticed.
        """
        key_id, cipher = self.keyring.active, self._cipher(self.keyring.active)
        starts = range(0, max(len(data), 1), SEGMENT_BYTES)
        out = [SEALED_FILE, key_id.encode() + b"\n"]
        for i, start in enumerate(starts):
            nonce = os.urandom(NONCE_BYTES)
            aad = _file_aad(dataset_id, batch_id, i, last=start + SEGMENT_BYTES >= len(data))
            out += [nonce, cipher.encrypt(nonce, data[start:start + SEGMENT_BYTES], aad)]
        return b"".join(out)

    def open_file(self, sealed: bytes, dataset_id: str, batch_id: str) -> bytes:
        """The clear bytes of :meth:`seal_file`'s output; raises :class:`UndecryptableValue`
        when it was changed, cut short, or sealed for another dataset or batch."""
        head, _, body = sealed.partition(b"\n")
        key_line, _, body = body.partition(b"\n")
        where = f"the quarantined file of batch {batch_id}"
        if head + b"\n" != SEALED_FILE or not body:
            raise UndecryptableValue(f"{where} is not a sealed file. Fix: restore it from the "
                                     "department's extract")
        cipher, step = self._cipher(key_line.decode()), NONCE_BYTES + SEGMENT_BYTES + TAG_BYTES
        parts = [body[i:i + step] for i in range(0, len(body), step)]
        try:
            return b"".join(
                cipher.decrypt(part[:NONCE_BYTES], part[NONCE_BYTES:],
                               _file_aad(dataset_id, batch_id, i, last=i == len(parts) - 1))
                for i, part in enumerate(parts))
        except InvalidTag as error:
            raise UndecryptableValue(
                f"{where} fails authentication (modified, cut short, or sealed for another "
                "dataset or batch). Fix: restore it from the department's extract") from error

    def protect(self, frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
        """``frame`` with the subject pseudonym, sensitive fields encrypted and their blind
        indexes added (the subject key's blind index is its pseudonym)."""
        out, encrypted = frame.copy(), encrypted_fields(contract)
        if contract.subject_key not in {f.name for f in encrypted}:  # else indexed below
            out[SUBJECT_KEY] = (self.pseudonyms.many(frame[contract.subject_key])
                                if contract.subject_key
                                else pd.Series(pd.NA, index=frame.index, dtype="str"))
        for spec in encrypted:
            index, sealed = per_distinct_each(frame[spec.name], [self.pseudonyms.of_each,
                                                                 self._sealer(contract, spec.name)])
            out[blind_index_column(contract, spec.name)], out[spec.name] = index, sealed
        return out

    def reveal(self, frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
        """``frame`` (rows of a dataset table) with its sensitive fields in the clear."""
        out = frame.copy()
        for spec in encrypted_fields(contract):
            if spec.name in out:
                out[spec.name] = self.decrypt(out[spec.name].astype("str"), contract, spec.name)
        return out


ORIGINALS = "_original"  # pseudo-field: a quarantined row's values as received


def seal_originals(originals: pd.Series, contract: Contract, protector: Protector) -> pd.Series:
    """Quarantined rows of a dataset with sensitive fields keep their originals encrypted."""
    if not encrypted_fields(contract) or originals.empty:
        return originals
    return protector.encrypt(originals.astype("str"), contract, ORIGINALS)
