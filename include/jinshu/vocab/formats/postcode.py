"""Postal code: six digits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import Failures, has_length, shaped

RULE = "postcode: six digits"
FIX = "send the six-digit postal code"
PARTS = {  # what is wrong with a code, never the code itself
    "length": "postcode: must have six digits",
    "characters": "postcode: only the digits 0-9",
}


def normalize(values: pd.Series) -> pd.Series:
    return values


def failures(values: pd.Series) -> pd.Series:
    """The first part of each code that is wrong (a key of :data:`PARTS`), missing where valid.

    >>> import pandas as pd
    >>> failures(pd.Series(["030001", "03000", "03000a"])).tolist()
    [nan, 'length', 'characters']
    """
    found = Failures(values, PARTS)
    found.fail("length", ~has_length(found.passing(), 6))
    found.fail("characters", ~shaped(found.passing(), "[0-9]{6}"))
    return found.result()


def is_valid(values: pd.Series) -> np.ndarray:
    """Six ASCII digits.

    >>> import pandas as pd
    >>> is_valid(pd.Series(["030001", "0300011", "０３０００１", None])).tolist()
    [True, False, False, False]
    """
    return failures(values).isna().to_numpy(dtype=bool)
