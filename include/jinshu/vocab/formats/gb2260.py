"""GB/T 2260 county-level division code in Shanxi (``14xxxx``), current or historical."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.divisions import shanxi_counties
from jinshu.vocab.formats._vector import Failures, has_length, shaped

RULE = "county code: a GB/T 2260 code of a Shanxi county or district (14xxxx)"
FIX = "use the six-digit county code from GB/T 2260, e.g. 140105 for 小店区"


PARTS = {  # what is wrong with a code, never the code itself
    "length": "county code: must have six digits",
    "characters": "county code: only the digits 0-9",
    "region": "county code: not a Shanxi county or district in GB/T 2260 "
              "(prefecture codes like 140100 are not)",
}


def normalize(values: pd.Series) -> pd.Series:
    return values


def failures(values: pd.Series) -> pd.Series:
    """The first part of each code that is wrong (a key of :data:`PARTS`), missing where valid.

    >>> import pandas as pd
    >>> failures(pd.Series(["140105", "1401", "14010x", "140100", "110105"])).tolist()
    [nan, 'length', 'characters', 'region', 'region']
    """
    found = Failures(values, PARTS)
    found.fail("length", ~has_length(found.passing(), 6))
    found.fail("characters", ~shaped(found.passing(), "[0-9]{6}"))
    found.fail("region", ~found.passing().isin(shanxi_counties()).to_numpy(dtype=bool))
    return found.result()


def is_valid(values: pd.Series) -> np.ndarray:
    """A current or historical county-level code of Shanxi.

    >>> import pandas as pd
    >>> is_valid(pd.Series(["140105", "141182", "140000", None])).tolist()
    [True, True, False, False]
    """
    return failures(values).isna().to_numpy(dtype=bool)
