"""Postal code: six digits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import shaped

RULE = "postcode: six digits"
FIX = "send the six-digit postal code"


def normalize(values: pd.Series) -> pd.Series:
    return values


def is_valid(values: pd.Series) -> np.ndarray:
    return shaped(values, r"[0-9]{6}")
