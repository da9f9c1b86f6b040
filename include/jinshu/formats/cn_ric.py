"""Resident Identity Card number (GB 11643-1999): 18 chars, or the old 15-digit form.

>>> import pandas as pd
>>> ids = pd.Series(["14010520010815068x", "140105199803071232", "140105199803071233"])
>>> is_valid(normalize(ids)).tolist()
[True, True, False]
>>> normalize(pd.Series(["140105980307123"])).tolist()  # 15-digit form, upgraded
['140105199803071232']
>>> normalize(pd.Series(["140105-19980307-1232", "١٤٠١٠٥١٩٩٨٠٣٠٧١٢٣٢"])).tolist()
['140105199803071232', '140105199803071232']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.divisions import address_codes
from jinshu.formats._vector import ascii_digits, fixed_width_bytes, shaped, without

RULE = "resident ID number: 6-digit address code, birth date, sequence, GB 11643 check character"
FIX = "send the 18-character number exactly as printed on the ID card"
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)


def _check_chars(first17: np.ndarray) -> np.ndarray:
    """Check character (as ASCII code) for each row of 17 digit bytes."""
    total = (first17.astype(np.int64) - ord("0")) @ WEIGHTS
    return CHECK_CHARS[total % 11]


def normalize(values: pd.Series) -> pd.Series:
    """Digits made ASCII, zero-width characters, spaces and ``-`` dropped, ``x`` upper-cased;
    15-digit numbers upgraded to 18 (insert ``19``, add the check).
    """
    out = without(ascii_digits(values), " \t-").str.upper()
    old = shaped(out, r"[0-9]{15}")
    if old.any():
        upgraded = out[old].str.slice(0, 6) + "19" + out[old].str.slice(6)
        checks = _check_chars(fixed_width_bytes(upgraded, 17))
        out = out.copy()
        check = pd.Series(list(checks.tobytes().decode("ascii")), index=upgraded.index)
        out[old] = upgraded.str.cat(check)
    return out


def is_valid(values: pd.Series) -> np.ndarray:
    """Shape, known address code, real birth date and check character."""
    ok = shaped(values, r"[0-9]{17}[0-9X]")
    if not ok.any():
        return ok
    candidates = values[ok]
    matrix = fixed_width_bytes(candidates, 18)
    good = _check_chars(matrix[:, :17]) == matrix[:, 17]
    good &= candidates.str.slice(0, 6).isin(address_codes()).to_numpy()
    births = pd.to_datetime(candidates.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    good &= births.notna().to_numpy() & (births.dt.year >= 1900).to_numpy()
    ok[np.flatnonzero(ok)] = good
    return ok
