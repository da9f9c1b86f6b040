"""Record hashes, keyed subject pseudonyms and in-batch deduplication.

* ``record_hash``: BLAKE2b-128 over a record's normalized field values; the
  same record is never stored twice, and a duplicate points to its stored
  twin through this hash. Keyed (BLAKE2b's own key) on the platform, so a
  stored hash cannot confirm a guessed record whose sensitive fields are
  encrypted.
* ``subject_key``: HMAC-SHA256 of the subject's identifier under the
  platform's pseudonym key. There are only ~10^11 valid ID numbers, so an
  unkeyed hash would be reversible by brute force (REFERENCE §3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

RECORD_HASH = "_record_hash"
SUBJECT_KEY = "_subject_key"
_SEPARATOR = "\x1f"
_NULL = "\x00"


def record_hashes(frame: pd.DataFrame, fields: list[str], key: bytes = b"") -> pd.Series:
    """32 hex chars per row; equal iff every listed field is equal (missing included)."""
    if frame.empty:
        return pd.Series([], dtype="str", index=frame.index)
    columns = [_escaped(pa.array(frame[f], type=pa.large_string(), from_pandas=True))
               for f in fields]
    joined = pc.binary_join_element_wise(
        *columns, pa.scalar(_SEPARATOR, pa.large_string()),
        null_handling="replace", null_replacement=_NULL,
    )
    digests = _blake2b_hex(key[:64], joined.to_pylist())
    return pd.Series(digests, dtype="str", index=frame.index)


def _blake2b_hex(key: bytes, values: list[str]) -> list[str]:
    blake2b = hashlib.blake2b
    return [blake2b(v.encode(), digest_size=16, key=key).hexdigest() for v in values]


def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hashes with the key's pads absorbed (RFC 2104)."""
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in block)),
            hashlib.sha256(bytes(b ^ 0x5C for b in block)))


def _hmac_hex(key: bytes, values: list[str]) -> list[str]:
    inner_pad, outer_pad = _pads(key)
    out = []
    for value in values:
        inner = inner_pad.copy()
        inner.update(value.encode())
        outer = outer_pad.copy()
        outer.update(inner.digest())
        out.append(outer.hexdigest())
    return out


def _escaped(values: pa.Array) -> pa.Array:
    """Escape the separator, the null marker and the escape char, so joins are unambiguous."""
    if not pc.any(pc.match_substring_regex(values, "[\\x00\\x1f\\\\]")).as_py():
        return values
    for char, escape in (("\\", "\\\\"), (_SEPARATOR, "\\s"), (_NULL, "\\0")):
        values = pc.replace_substring(values, char, escape)
    return values


class Pseudonymizer:
    """HMAC-SHA256 under one key (hashlib, the key's pads absorbed once per call of many)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the pseudonym key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:  # never print the key
        return "Pseudonymizer(<key>)"

    def one(self, value: str) -> str:
        return _hmac_hex(self._key, [value])[0]

    def many(self, values: pd.Series) -> pd.Series:
        """Pseudonym per value, computed once per distinct value; missing stays missing."""
        return per_distinct(values, self.of_each)

    def of_each(self, values: list[str]) -> list[str]:
        return _hmac_hex(self._key, values)


def per_distinct(values: pd.Series, compute: Callable[[list[str]], list[str]]) -> pd.Series:
    """``compute`` run once over the distinct values, its results spread back over ``values``.

    Missing stays missing. For per-value work (HMAC, AES-GCM) on low-cardinality columns.
    """
    return per_distinct_each(values, [compute])[0]


def per_distinct_each(values: pd.Series,
                      computes: list[Callable[[list[str]], list[str]]]) -> list[pd.Series]:
    """:func:`per_distinct` for several computations over one column, factorized once."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    distinct, take, missing = distinct.tolist(), codes.clip(min=0), codes < 0
    out = []
    for compute in computes:
        results = pd.Series(compute(distinct) or [""], dtype="str").take(take)
        results.index = values.index
        out.append(results.mask(missing))
    return out


def split_batch_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(first occurrence of each record, later repeats) by ``_record_hash``."""
    repeated = frame.duplicated(RECORD_HASH, keep="first")
    return frame[~repeated], frame[repeated]
