"""The same record twice: keyed record hashes, repeats within a batch, natural-key clashes.

* ``_record_hash``: BLAKE2b-128 over a record's normalized field values; the
  same record is never stored twice, and a duplicate points to its stored
  twin through this hash. Keyed (BLAKE2b's own key) on the platform, so a
  stored hash cannot confirm a guessed record whose sensitive fields are
  encrypted.
* a natural key sent twice in one file with *different* values is a clash:
  neither version can be trusted, both rows are quarantined by the row rules.

Pure: frames in, frames out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jinshu.catalog import Contract
from jinshu.collect.read import ROW

RECORD_HASH = "_record_hash"
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
    digests = _blake2b_hex(key[:64], joined.cast(pa.large_binary()).to_pylist())
    return pd.Series(digests, dtype="str", index=frame.index)


def _blake2b_hex(key: bytes, values: list[bytes]) -> list[str]:
    """Keyed BLAKE2b-128 of each value: the key's block is absorbed once, then copied."""
    keyed = hashlib.blake2b(digest_size=16, key=key).copy
    out = []
    for value in values:
        digest = keyed()
        digest.update(value)
        out.append(digest.hexdigest())
    return out


def _escaped(values: pa.Array) -> pa.Array:
    """Escape the separator, the null marker and the escape char, so joins are unambiguous."""
    if not pc.any(pc.match_substring_regex(values, "[\\x00\\x1f\\\\]")).as_py():
        return values
    for char, escape in (("\\", "\\\\"), (_SEPARATOR, "\\s"), (_NULL, "\\0")):
        values = pc.replace_substring(values, char, escape)
    return values


def split_batch_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(first occurrence of each record, later repeats) by ``_record_hash``."""
    repeated = frame.duplicated(RECORD_HASH, keep="first")
    return frame[~repeated], frame[repeated]


def natural_key_clashes(frame: pd.DataFrame, contract: Contract) -> pd.Index:
    """Index of rows sharing a natural key with a *different* record of the same batch."""
    key = list(contract.natural_key)
    shared = frame[frame.duplicated(key, keep=False)]
    if shared.empty:
        return frame.index[:0]
    distinct = shared.drop_duplicates(contract.field_names)
    clashing = distinct[distinct.duplicated(key, keep=False)][key].drop_duplicates()
    return shared.index[shared.set_index(key).index.isin(clashing.set_index(key).index)]


# --- one file in several chunks ---------------------------------------------------------------
#
# Each chunk of a file drops its own repeats and quarantines the natural keys it sends twice
# with different values (the row rules); what spans two chunks is settled here, per key
# partition, before anything is stored: every record of a key lands in one partition, so a
# partition holds all of a key's records from every chunk, and memory holds one partition.

HEX_PREFIX = 8  # leading hex digits of a blind index that place it in a partition


def key_partitions(frame: pd.DataFrame, key: list[str], parts: int, ordered: bool) -> np.ndarray:
    """The partition (0 <= p < ``parts``) of each row's natural key.

    ``ordered``: the key's first column is a blind index (uniform hex); partitions are then
    ranges of it in ascending order, so storing them in turn fills the key's B-tree from left
    to right. Otherwise a hash of the key spreads rows evenly.
    """
    if parts == 1 or frame.empty:
        return np.zeros(len(frame), dtype=np.int64)
    if ordered:
        prefix = frame[key[0]].str.slice(0, HEX_PREFIX).fillna("0").map(lambda h: int(h, 16))
        return (prefix.to_numpy(dtype=np.uint64) * np.uint64(parts) >> np.uint64(4 * HEX_PREFIX)
                ).astype(np.int64)
    hashed = pd.util.hash_pandas_object(frame[key], index=False).to_numpy()
    return (hashed % np.uint64(parts)).astype(np.int64)


@dataclass
class Settled:
    """A key partition of a file, across its chunks: what to store and what to set aside."""

    records: pd.DataFrame  # the first occurrence of each record, keys that clash removed
    repeats: pd.DataFrame  # _row, _record_hash: later occurrences from other chunks
    clashing: pd.DataFrame  # _row, _record_hash: records of a key sent with different values


def settle(frame: pd.DataFrame, key: list[str], clashes: pd.DataFrame | None = None) -> Settled:
    """Settle one key partition: ``frame`` holds each chunk's distinct records (``_row``,
    ``_record_hash`` and the ``key`` columns); ``clashes``, keys a chunk found sent with
    different values. A key with two different records, here or in ``clashes``, is set
    aside whole; of the rest, the first occurrence (lowest row) of each record is kept."""
    repeated = frame.duplicated(key, keep=False).to_numpy()
    if not repeated.any() and (clashes is None or clashes.empty):  # the common case
        return Settled(frame, frame[[ROW, RECORD_HASH]].iloc[:0], frame[[ROW, RECORD_HASH]].iloc[:0])
    distinct = frame[repeated].drop_duplicates([*key, RECORD_HASH])
    clashing_keys = distinct.loc[distinct.duplicated(key, keep=False), key]
    if clashes is not None and not clashes.empty:
        clashing_keys = pd.concat([clashing_keys, clashes[key]], ignore_index=True)
    if clashing_keys.empty:
        clashing = np.zeros(len(frame), dtype=bool)
    elif len(key) == 1:
        clashing = frame[key[0]].isin(clashing_keys[key[0]]).to_numpy()
    else:
        clashing = pd.MultiIndex.from_frame(frame[key]).isin(
            pd.MultiIndex.from_frame(clashing_keys)).astype(bool)
    kept = frame[~clashing].sort_values(ROW, kind="stable")
    later = kept.duplicated(RECORD_HASH, keep="first").to_numpy()
    return Settled(kept[~later], kept.loc[later, [ROW, RECORD_HASH]],
                   frame.loc[clashing, [ROW, RECORD_HASH]])
