"""GB/T 2260 county-level division code in Shanxi (``14xxxx``), current or historical."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.divisions import shanxi_counties

RULE = "county code: a GB/T 2260 code of a Shanxi county or district (14xxxx)"
FIX = "use the six-digit county code from GB/T 2260, e.g. 140105 for 小店区"


def normalize(values: pd.Series) -> pd.Series:
    return values


def is_valid(values: pd.Series) -> np.ndarray:
    return values.isin(shanxi_counties()).to_numpy(dtype=bool)
