"""Fixed-line number with area code, e.g. ``0351-4567890``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import shaped

RULE = "landline: area code 0xx(x), then a 7-8 digit number"
FIX = "write the number with its area code, e.g. 0351-4567890"


def normalize(values: pd.Series) -> pd.Series:
    return values.str.replace(r"[\s()（）]", "", regex=True)


def is_valid(values: pd.Series) -> np.ndarray:
    return shaped(values, r"0[0-9]{2,3}-?[2-9][0-9]{6,7}")
