"""Keyed pseudonyms: HMAC-SHA256 of a subject's identifier under the platform's index key.

There are only ~10^11 valid ID numbers, so an unkeyed hash would be
reversible by brute force (docs/regulation.md#keyed-pseudonyms). The same
HMAC gives the blind indexes of encrypted fields. Per-value work runs once
per distinct value (:func:`per_distinct`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd

SUBJECT_KEY = "_subject_key"


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
