"""Fixed-line number with area code, e.g. ``0351-4567890``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import Failures, shaped

RULE = "landline: area code 0xx(x), then a 7-8 digit number"
FIX = "write the number with its area code, e.g. 0351-4567890"
PARTS = {  # what is wrong with a number, never the number itself
    "characters": "landline: only digits, with one dash after the area code",
    "area_code": "landline: must start with the area code (0 and 2-3 digits, e.g. 0351)",
    "local_number": "landline: the local number must have 7-8 digits and not start with 0 or 1",
}


def normalize(values: pd.Series) -> pd.Series:
    return values.str.replace(r"[\s()（）]", "", regex=True)


def failures(values: pd.Series) -> pd.Series:
    """The first part of each number that is wrong (a key of :data:`PARTS`), missing where valid.

    >>> import pandas as pd
    >>> failures(pd.Series(["0351-4567890", "0351-456789O", "351-4567890", "0351-1234567"])).tolist()
    [nan, 'characters', 'area_code', 'local_number']
    """
    found = Failures(values, PARTS)
    found.fail("characters", ~shaped(found.passing(), "[0-9]+(?:-[0-9]+)?"))
    numbers = found.passing()
    found.fail("area_code", ~(shaped(numbers, "0[0-9]{2,3}-[0-9]+") | shaped(numbers, "0[0-9]+")))
    found.fail("local_number", ~shaped(found.passing(), "0[0-9]{2,3}-?[2-9][0-9]{6,7}"))
    return found.result()


def is_valid(values: pd.Series) -> np.ndarray:
    """Area code 0xx or 0xxx, an optional dash, then 7-8 digits not starting 0 or 1.

    >>> import pandas as pd
    >>> is_valid(normalize(pd.Series(["(0351)4567890", "010-62345678", "13800138000", None]))).tolist()
    [True, True, False, False]
    """
    return failures(values).isna().to_numpy(dtype=bool)
