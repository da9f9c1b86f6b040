"""Encryption at rest: AES-256-GCM envelopes and blind indexes of sensitive fields.

An envelope is ``<key id>:v2:<base64(nonce | ciphertext | tag)>``: the key id
travels with the value, and ``<dataset>.<field>|<row key>`` is bound as
associated data, so a value copied into another column, dataset or row fails
to decrypt, naming the table, the field and the row key (never a value). The
row key of a dataset row is its subject pseudonym (``_subject_key=<hex>``,
known before encryption and stable under upserts); of a quarantined row its
batch and source row. Envelopes written before row binding (``<key id>:<base64>``,
bound to the field only) are read only by key rotation, which rewrites them
bound (``jinshu keys rotate --no-new-key``); anywhere else they are refused
with that fix.

The blind index is HMAC-SHA256 under the index key (:mod:`jinshu.protect.keys`);
for the subject's identifier it is the subject pseudonym itself. Records are
matched and deduplicated on blind indexes, never on ciphertexts. Each value
is sealed with its own random nonce.
"""

from __future__ import annotations

import binascii
import os
import re

import numpy as np
import pandas as pd
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jinshu.catalog import Contract
from jinshu.protect.keyring import Keyring
from jinshu.protect.policy import blind_index_column, encrypted_fields, seals_originals
from jinshu.protect.pseudonyms import SUBJECT_KEY, Pseudonymizer

NONCE_BYTES = 12
TAG_BYTES = 16
SEALED_FILE = b"jinshu-sealed-file/1\n"  # then "<key id>\n", then the segments
SEGMENT_BYTES = 16 << 20  # AES-GCM seals at most 2 GiB at once; a province-wide extract is more


BOUND = "v2"  # envelopes bound to their row (before: to their field only)
_ENVELOPE = re.compile(rf"^[A-Za-z0-9]+:(?:{BOUND}:)?[A-Za-z0-9+/]{{38,}}={{0,2}}$")


def looks_sealed(value: str) -> bool:
    """``value`` has an envelope's shape (bound or from before row binding).

    >>> looks_sealed("k1:v2:" + "A" * 40), looks_sealed("140105199803071232")
    (True, False)
    """
    return bool(_ENVELOPE.match(value))


class UndecryptableValue(ValueError):
    """A stored value fails authentication: tampered, moved, or under an unknown key."""


class UnboundEnvelope(UndecryptableValue):
    """A value encrypted before envelopes were bound to their row: rotation rebinds it."""


def _aad(contract: Contract, field: str, row: str) -> bytes:
    return f"{contract.id}.{field}|{row}".encode()


def _field_aad(contract: Contract, field: str) -> bytes:
    """The associated data of envelopes written before row binding."""
    return f"{contract.id}.{field}".encode()


def subject_rows(pseudonyms: pd.Series) -> pd.Series:
    """Row keys of dataset rows: their subject pseudonym (missing stays missing)."""
    return ("_subject_key=" + pseudonyms.astype("str")).where(pseudonyms.notna())


def quarantine_row(batch_id: str, source_row: int) -> str:
    """Row key of a quarantined row: its batch and source row."""
    return f"batch_id={batch_id},source_row={int(source_row)}"


def quarantine_rows(batch_id: str, source_rows: pd.Series) -> pd.Series:
    return pd.Series([quarantine_row(batch_id, r) for r in source_rows],
                     index=source_rows.index, dtype="str")


def _file_aad(dataset_id: str, batch_id: str, segment: int, last: bool) -> bytes:
    return f"{dataset_id}/{batch_id}/file/{segment}/{'last' if last else 'more'}".encode()


def key_id_of(envelope: str) -> str:
    return envelope.split(":", 1)[0]


def is_bound(envelope: str) -> bool:
    """Whether ``envelope`` is bound to its row (written since row binding)."""
    return envelope.split(":", 2)[1:2] == [BOUND]


def _seal(cipher: AESGCM, key_id: str, aads: list[bytes], values: list[bytes]) -> list[str]:
    """Envelopes of ``values`` (UTF-8) under one key, each with its row's associated data
    and a fresh random nonce."""
    encrypt, b64, prefix = cipher.encrypt, binascii.b2a_base64, f"{key_id}:{BOUND}:"
    random = os.urandom(NONCE_BYTES * len(values))
    nonces = [random[i:i + NONCE_BYTES] for i in range(0, len(random), NONCE_BYTES)]
    return [prefix + b64(nonce + encrypt(nonce, value, aad), newline=False).decode("ascii")
            for nonce, value, aad in zip(nonces, values, aads, strict=True)]


def _utf8(values: pd.Series) -> list[bytes]:
    """Each value's text, UTF-8 encoded (through Arrow: no Python call per value)."""
    text = values.astype("str")
    return pa.array(text.array, type=pa.large_string(), from_pandas=True).cast(
        pa.large_binary()).to_pylist()


def _aads(contract: Contract, field: str, rows: pd.Series) -> list[bytes]:
    """The associated data of each row's envelope of ``field`` (see :func:`_aad`)."""
    prefix = _aad(contract, field, "")
    return [prefix + row for row in _utf8(rows)]


def _where(contract: Contract, field: str) -> str:
    return f"quarantine.original ({contract.id})" if field == ORIGINALS else \
        f"{contract.table}.{field}"


class Protector:
    """Encrypts, decrypts and blind-indexes a dataset's sensitive fields."""

    def __init__(self, keyring: Keyring, pseudonyms: Pseudonymizer) -> None:
        self.keyring, self.pseudonyms = keyring, pseudonyms
        self._ciphers: dict[str, AESGCM] = {}

    def _cipher(self, key_id: str) -> AESGCM:
        if key_id not in self._ciphers:
            self._ciphers[key_id] = AESGCM(self.keyring.key(key_id))
        return self._ciphers[key_id]

    def encrypt(self, values: pd.Series, contract: Contract, field: str, rows: pd.Series,
                key_id: str | None = None) -> pd.Series:
        """Envelopes under ``key_id`` (default: the active key), each bound to its row key in
        ``rows`` (aligned with ``values``); missing stays missing."""
        key_id = key_id or self.keyring.active
        present = values.notna().to_numpy()
        keys = rows[present]
        if keys.isna().any():
            raise ValueError(f"{_where(contract, field)}: a value has no row key to bind it to")
        sealed = _seal(self._cipher(key_id), key_id, _aads(contract, field, keys),
                       _utf8(values[present]))
        if present.all():
            return pd.Series(sealed, index=values.index, dtype="str")
        out = np.full(len(values), None, dtype=object)
        out[present] = sealed
        return pd.Series(out, index=values.index, dtype="str")

    def decrypt(self, envelopes: pd.Series, contract: Contract, field: str, rows: pd.Series,
                unbound: bool = False) -> pd.Series:
        """Clear values of ``field``; raises :class:`UndecryptableValue` on any bad envelope,
        naming its row key. ``unbound``: also read envelopes written before row binding
        (key rotation only, which rebinds them)."""
        present = envelopes.notna().to_numpy()
        texts, keys = envelopes[present].tolist(), rows[present].tolist()
        opened = self._open_bound(contract, field, texts, keys)
        if opened is None:  # another key, an unbound or a bad envelope: one at a time
            opened = [self._open(contract, field, e, r, unbound) for e, r in zip(texts, keys, strict=True)]
        out = np.full(len(envelopes), None, dtype=object)
        out[present] = opened
        return pd.Series(out, index=envelopes.index, dtype="str")

    def _open_bound(self, contract: Contract, field: str, envelopes: list[str],
                    rows: list[str]) -> list[str] | None:
        """The common case at speed: envelopes bound to their rows under one key id; None
        when any is not (the caller then opens each, naming the first bad one)."""
        if not envelopes:
            return []
        key_id = envelopes[0].partition(":")[0]
        prefix = f"{key_id}:{BOUND}:"
        cipher, a2b, aad = self._cipher(key_id).decrypt, binascii.a2b_base64, _aad(contract, field, "")
        try:
            out = []
            for envelope, row in zip(envelopes, rows, strict=True):
                if not envelope.startswith(prefix):
                    return None
                raw = a2b(envelope[len(prefix):], strict_mode=True)
                out.append(cipher(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad + row.encode()).decode())
            return out
        except (InvalidTag, ValueError):
            return None

    def _open(self, contract: Contract, field: str, envelope: str, row: str,
              unbound: bool) -> str:
        key_id, _, body = envelope.partition(":")
        cipher = self._cipher(key_id)  # an unknown key id raises KeyringError, naming it
        where = f"{_where(contract, field)} at row {row}"
        version, _, rest = body.partition(":")
        if version == BOUND:
            body, aad = rest, _aad(contract, field, row)
        elif not unbound:
            raise UnboundEnvelope(
                f"{where}: the value was encrypted before envelopes were bound to their row. "
                "Fix: run `jinshu keys rotate --no-new-key` (or the rotate_keys DAG) once")
        else:
            aad = _field_aad(contract, field)
        try:
            raw = binascii.a2b_base64(body, strict_mode=True)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()
        except (InvalidTag, ValueError) as error:
            raise UndecryptableValue(
                f"{where}: the value under key '{key_id}' fails authentication (modified, or "
                "copied from another row or field; the key itself matches the store's check "
                "value). Fix: restore it from the source extract") from error

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
        """``frame`` with the subject pseudonym, sensitive fields encrypted (bound to the
        row's pseudonym) and their blind indexes added (the subject key's is its pseudonym)."""
        out, encrypted = frame.copy(), encrypted_fields(contract)
        out[SUBJECT_KEY] = (self.pseudonyms.many(frame[contract.subject_key])
                            if contract.subject_key
                            else pd.Series(pd.NA, index=frame.index, dtype="str"))
        rows = subject_rows(out[SUBJECT_KEY])
        for spec in encrypted:
            if spec.name != contract.subject_key:
                out[blind_index_column(contract, spec.name)] = self.pseudonyms.many(frame[spec.name])
            out[spec.name] = self.encrypt(frame[spec.name], contract, spec.name, rows)
        return out

    def reveal(self, frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
        """``frame`` (rows of a dataset table) with its sensitive fields in the clear."""
        out = frame.copy()
        rows = subject_rows(frame[SUBJECT_KEY]) if SUBJECT_KEY in frame else None
        for spec in encrypted_fields(contract):
            if spec.name in out:
                if rows is None:
                    raise ValueError(f"{contract.table}.{spec.name}: reading it needs the "
                                     f"{SUBJECT_KEY} column (its envelopes are bound to it)")
                out[spec.name] = self.decrypt(out[spec.name].astype("str"), contract, spec.name,
                                              rows)
        return out


ORIGINALS = "_original"  # pseudo-field: a quarantined row's values as received


def seal_originals(originals: pd.Series, contract: Contract, protector: Protector,
                   rows: pd.Series) -> pd.Series:
    """Quarantined rows of a dataset with sensitive fields keep their originals encrypted,
    each bound to its row key (:func:`quarantine_rows`)."""
    if not seals_originals(contract) or originals.empty:
        return originals
    return protector.encrypt(originals.astype("str"), contract, ORIGINALS, rows)
