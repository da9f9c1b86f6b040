"""Mainland mobile number, stored as 11 digits without the +86 prefix.

>>> import pandas as pd
>>> normalize(pd.Series(["+86 138-0013-8000", "13800138000", "0086 138 0013 8000"])).tolist()
['13800138000', '13800138000', '13800138000']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.formats._vector import ascii_digits, shaped, without

RULE = "mobile number: 11 digits starting 13-19"
FIX = "send the 11-digit mobile number, without spaces or extension"


def normalize(values: pd.Series) -> pd.Series:
    """Digits made ASCII; spaces, ``-`` and zero-width characters dropped; ``+86``, ``0086``
    or ``86`` before an 11-digit number dropped.
    """
    digits = without(ascii_digits(values), " \t\n\r\f\v-")
    return digits.str.replace(r"^(?:\+|00)?86(?=1[0-9]{10}$)", "", regex=True)


def is_valid(values: pd.Series) -> np.ndarray:
    return shaped(values, r"1[3-9][0-9]{9}")
