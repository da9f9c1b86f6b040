"""Resident Identity Card number (GB 11643-1999): 18 chars, or the old 15-digit form.

>>> import pandas as pd
>>> ids = pd.Series(["14010520010815068x", "140105199803071232", "140105199803071233"])
>>> is_valid(normalize(ids)).tolist()
[True, True, False]
>>> normalize(pd.Series(["140105980307123"])).tolist()  # 15-digit form, upgraded
['140105199803071232']

What a valid number encodes, for cross-field checks:

>>> birth_digits(ids[:2]).tolist(), is_male(ids[:2]).tolist(), regions(ids[:2]).tolist()
(['20010815', '19980307'], [False, True], ['140105', '140105'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.divisions import address_codes
from jinshu.vocab.formats._vector import fixed_width_bytes, shaped

RULE = "resident ID number: 6-digit address code, birth date, sequence, GB 11643 check character"
FIX = "send the 18-character number exactly as printed on the ID card"
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)


def _check_chars(first17: np.ndarray) -> np.ndarray:
    """Check character (as ASCII code) for each row of 17 digit bytes."""
    total = (first17.astype(np.int64) - ord("0")) @ WEIGHTS
    return CHECK_CHARS[total % 11]


def normalize(values: pd.Series) -> pd.Series:
    """Upper-case ``x``; upgrade 15-digit numbers to 18 (insert ``19``, add the check)."""
    out = values.str.upper()
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


def birth_digits(values: pd.Series) -> pd.Series:
    """The birth date in digits 7-14, as ``YYYYMMDD``."""
    return values.str.slice(6, 14)


def is_male(values: pd.Series) -> np.ndarray:
    """The 17th digit is odd for men and even for women (GB 11643)."""
    return values.str.slice(16, 17).isin(list("13579")).to_numpy(dtype=bool)


def regions(values: pd.Series) -> pd.Series:
    """The GB/T 2260 code of the county that first issued the number (digits 1-6)."""
    return values.str.slice(0, 6)
