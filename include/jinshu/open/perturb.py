"""Cell-key perturbation of published sums, so that versions cannot be subtracted.

The attack it stops (docs/regulation.md#open-data): a county's aggregate is published
monthly; next month one household joins; subtracting the two versions gives that
household's exact size and allowance. Rounding leaks near its boundaries and suppressing
small changes needs the history of every cell; we add noise the way the ABS and ONS
protect census tables (the *cell-key method*):

* every record has a **record key**, a 64-bit number derived from its subject's keyed
  pseudonym and the values it contributes (so nobody without the platform's index key can
  compute it, and a changed value changes it);
* a cell's **cell key** is the sum of its records' keys modulo 2**64: the same records give
  the same cell key, hence the same noise, in every version (republishing, or averaging many
  versions of an unchanged cell, tells nothing new), while one record more or less gives an
  unrelated one;
* each sum gets noise ``± u × D``, ``u`` uniform in [0.5, 1.5] and the sign drawn from the
  cell key (per column), ``D`` the largest single contribution in the cell: the noise is
  always at least half of what any one record could contribute and never zero, so the
  difference of two versions is the household's value plus the difference of two unrelated
  noises. Integer sums get integer noise (at least 1).

Counts (``record_count``) are published exact: they state the k achieved, and knowing that
one household joined does not tell its size or allowance. Sums of large cells barely move
(the noise is about one household's worth); the package says the sums are perturbed.

>>> import pandas as pd
>>> keys = record_keys(pd.Series(["a", "b", "c"]))
>>> cell = cell_key(keys)
>>> cell == cell_key(keys[::-1]), cell == cell_key(keys[:2])
(True, False)
>>> noise(cell, "sum_allowance", 800.0, integer=False) == noise(cell, "sum_allowance", 800.0, integer=False)
True
>>> 400 <= abs(noise(cell, "sum_allowance", 800.0, integer=False)) <= 1200
True
>>> abs(noise(cell, "sum_size", 1, integer=True)) >= 1
True
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

MASK64 = (1 << 64) - 1
LOW, HIGH = 0.5, 1.5  # noise magnitude, as a multiple of the largest contribution
METHOD = {"method": "cell-key perturbation of sums (ABS/ONS cell key method)",
          "noise": f"±[{LOW}, {HIGH}] × the largest single contribution in the cell, "
                   "the same for the same records in every version",
          "exact": ["record_count"]}


def record_keys(material: pd.Series) -> np.ndarray:
    """A 64-bit key per record from text that only the platform can produce (its subject's
    keyed pseudonym and the values it contributes)."""
    out = np.empty(len(material), dtype=np.uint64)
    for i, text in enumerate(material.astype("str").tolist()):
        digest = hashlib.blake2b(text.encode(), digest_size=8, person=b"jinshu-cellkey").digest()
        out[i] = int.from_bytes(digest, "big")
    return out


def cell_key(keys: np.ndarray) -> int:
    """The sum of the records' keys modulo 2**64 (order does not matter)."""
    return int(np.sum(keys, dtype=np.uint64)) & MASK64  # numpy wraps uint64 sums modulo 2**64


def _uniforms(cell: int, column: str) -> tuple[float, float]:
    digest = hashlib.blake2b(cell.to_bytes(8, "big") + column.encode(), digest_size=16,
                             person=b"jinshu-noise").digest()
    a, b = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")
    return a / 2**64, b / 2**64


def noise(cell: int, column: str, largest: float, integer: bool) -> float:
    """The noise added to ``column``'s sum in the cell whose key is ``cell``."""
    sign_draw, size_draw = _uniforms(cell, column)
    magnitude = (LOW + (HIGH - LOW) * size_draw) * abs(float(largest))
    if integer:
        magnitude = max(1, round(magnitude))
    return magnitude if sign_draw < 0.5 else -magnitude
