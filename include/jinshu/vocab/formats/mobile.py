"""Mainland mobile number, stored as 11 digits without the +86 prefix.

>>> import pandas as pd
>>> normalize(pd.Series(["+86 138-0013-8000", "13800138000"])).tolist()
['13800138000', '13800138000']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import Failures, ascii_digits, has_length, shaped, without

RULE = "mobile number: 11 digits starting 13-19"
FIX = "send the 11-digit mobile number, without spaces or extension"
PARTS = {  # what is wrong with a number, never the number itself
    "characters": "mobile number: only digits (spaces, dashes and +86 are removed first)",
    "length": "mobile number: must have 11 digits",
    "prefix": "mobile number: must start with 13-19",
}


def normalize(values: pd.Series) -> pd.Series:
    """Digits made ASCII; spaces, ``-`` and zero-width characters dropped; ``+86``, ``0086``
    or ``86`` before an 11-digit number dropped.

    >>> normalize(pd.Series(["+86 138-0013-8000", "13800138000", "0086 138 0013 8000"])).tolist()
    ['13800138000', '13800138000', '13800138000']
    """
    digits = without(ascii_digits(values), " \t\n\r\f\v-")
    return digits.str.replace(r"^(?:\+|00)?86(?=1[0-9]{10}$)", "", regex=True)


def failures(values: pd.Series) -> pd.Series:
    """The first part of each number that is wrong (a key of :data:`PARTS`), missing where valid.

    >>> import pandas as pd
    >>> failures(pd.Series(["13800138000", "138-0013-8000", "1380013800", "12800138000"])).tolist()
    [nan, 'characters', 'length', 'prefix']
    """
    found = Failures(values, PARTS)
    found.fail("characters", ~shaped(found.passing(), "[0-9]+"))
    found.fail("length", ~has_length(found.passing(), 11))
    found.fail("prefix", ~shaped(found.passing(), "1[3-9][0-9]*"))
    return found.result()


def is_valid(values: pd.Series) -> np.ndarray:
    """11 digits starting 13-19 (normalize first: spaces, dashes and +86 go).

    >>> import pandas as pd
    >>> is_valid(pd.Series(["19912345678", "12800138000", "+8613800138000", None])).tolist()
    [True, False, False, False]
    """
    return failures(values).isna().to_numpy(dtype=bool)
