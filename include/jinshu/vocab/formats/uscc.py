"""Unified Social Credit Code (GB 32100-2015), 18 characters.

>>> import pandas as pd
>>> codes = pd.Series(["91140105MA0K1B2C1E", "12140100123456788c", "91140105MA0K1B2C1F"])
>>> is_valid(normalize(codes)).tolist()
[True, True, False]
>>> regions(codes[:1]).tolist()  # the registering authority's division code
['140105']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import fixed_width_bytes, shaped

RULE = "unified social credit code: 18 characters of 0-9 A-Y (no I O Z S V), GB 32100 check"
FIX = "copy the code from the business licence; it has 18 characters"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_VALUE = np.full(256, -1, dtype=np.int64)
_VALUE[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)


def normalize(values: pd.Series) -> pd.Series:
    return values.str.upper()


def is_valid(values: pd.Series) -> np.ndarray:
    chars = f"[{ALPHABET}]"
    ok = shaped(values, f"{chars}{{2}}[0-9]{{6}}{chars}{{10}}")  # the area code is digits
    if not ok.any():
        return ok
    matrix = fixed_width_bytes(values[ok], 18)
    digits = _VALUE[matrix[:, :17]]
    expected = _ALPHABET_BYTES[(31 - (digits @ WEIGHTS) % 31) % 31]
    ok[np.flatnonzero(ok)] = expected == matrix[:, 17]
    return ok


def regions(values: pd.Series) -> pd.Series:
    """The registering authority's GB/T 2260 division code (characters 3-8)."""
    return values.str.slice(2, 8)
