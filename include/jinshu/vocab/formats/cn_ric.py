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
from jinshu.vocab.formats._vector import (
    Failures,
    ascii_digits,
    fixed_width_bytes,
    has_length,
    shaped,
    without,
)

RULE = "resident ID number: 6-digit address code, birth date, sequence, GB 11643 check character"
FIX = "send the 18-character number exactly as printed on the ID card"
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)
PARTS = {  # what is wrong with a number, never the number itself
    "length": "resident ID number: must have 18 characters (15-digit numbers are upgraded first)",
    "characters": "resident ID number: only digits, with X allowed as the last character",
    "checksum": "resident ID number: check character does not match the first 17 digits",
    "birth_date": "resident ID number: digits 7-14 are not a real birth date (YYYYMMDD, 1900 or later)",
    "region": "resident ID number: the first 6 digits are not a GB/T 2260 address code",
}


def _check_chars(first17: np.ndarray) -> np.ndarray:
    """Check character (as ASCII code) for each row of 17 digit bytes."""
    total = (first17.astype(np.int64) - ord("0")) @ WEIGHTS
    return CHECK_CHARS[total % 11]


def normalize(values: pd.Series) -> pd.Series:
    """Digits made ASCII, zero-width characters, spaces and ``-`` dropped, ``x`` upper-cased;
    15-digit numbers upgraded to 18 (insert ``19``, add the check).

    >>> normalize(pd.Series(["140105-19980307-1232", "١٤٠١٠٥١٩٩٨٠٣٠٧١٢٣٢"])).tolist()
    ['140105199803071232', '140105199803071232']
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


def failures(values: pd.Series) -> pd.Series:
    """The first part of each number that is wrong (a key of :data:`PARTS`), missing where valid.

    Checked in python-stdnum's order: length, characters, check character, birth
    date, then the address code (any code GB/T 2260 ever listed, or 810000/820000/830000
    of a Hong Kong, Macau or Taiwan residence permit).

    >>> import pandas as pd
    >>> failures(pd.Series(["14010520010815068X", "1401052001081506", "14010520010815068A",
    ...                     "140105200108150681", "140105199802301235", "99999920010815068X"])).tolist()
    [nan, 'length', 'characters', 'checksum', 'birth_date', 'region']
    """
    found = Failures(values, PARTS)
    found.fail("length", ~has_length(found.passing(), 18))
    found.fail("characters", ~shaped(found.passing(), r"[0-9]{17}[0-9X]"))
    matrix = fixed_width_bytes(found.passing(), 18)
    found.fail("checksum", _check_chars(matrix[:, :17]) != matrix[:, 17])
    births = pd.to_datetime(found.passing().str.slice(6, 14), format="%Y%m%d", errors="coerce")
    found.fail("birth_date", ~(births.notna() & (births.dt.year >= 1900)).to_numpy(dtype=bool))
    found.fail("region", ~found.passing().str.slice(0, 6).isin(address_codes()).to_numpy(dtype=bool))
    return found.result()


def is_valid(values: pd.Series) -> np.ndarray:
    """Length, characters, check character, real birth date and known address code.

    >>> import pandas as pd
    >>> is_valid(pd.Series(["140105199803071232", "140105199803071233", None])).tolist()
    [True, False, False]
    """
    return failures(values).isna().to_numpy(dtype=bool)


def birth_digits(values: pd.Series) -> pd.Series:
    """The birth date in digits 7-14, as ``YYYYMMDD``."""
    return values.str.slice(6, 14)


def is_male(values: pd.Series) -> np.ndarray:
    """The 17th digit is odd for men and even for women (GB 11643)."""
    return values.str.slice(16, 17).isin(list("13579")).to_numpy(dtype=bool)


def regions(values: pd.Series) -> pd.Series:
    """The GB/T 2260 code of the county that first issued the number (digits 1-6)."""
    return values.str.slice(0, 6)
