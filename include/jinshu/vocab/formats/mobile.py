"""Mainland mobile number, stored as 11 digits without the +86 prefix.

>>> import pandas as pd
>>> normalize(pd.Series(["+86 138-0013-8000", "13800138000"])).tolist()
['13800138000', '13800138000']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import shaped

RULE = "mobile number: 11 digits starting 13-19"
FIX = "send the 11-digit mobile number, without spaces or extension"


def normalize(values: pd.Series) -> pd.Series:
    digits = values.str.replace(r"[\s-]", "", regex=True)
    return digits.str.replace(r"^\+?86(?=1\d{10}$)", "", regex=True)


def is_valid(values: pd.Series) -> np.ndarray:
    return shaped(values, r"1[3-9][0-9]{9}")
