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

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jinshu.catalog import Contract

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
    digests = _blake2b_hex(key[:64], joined.to_pylist())
    return pd.Series(digests, dtype="str", index=frame.index)


def _blake2b_hex(key: bytes, values: list[str]) -> list[str]:
    blake2b = hashlib.blake2b
    return [blake2b(v.encode(), digest_size=16, key=key).hexdigest() for v in values]


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
