"""Helpers to run checksums over fixed-width ASCII columns with numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd


def fixed_width_bytes(values: pd.Series, width: int) -> np.ndarray:
    """``len(values) x width`` uint8 matrix; callers pass values of exactly ``width`` ASCII chars."""
    if values.empty:
        return np.zeros((0, width), dtype=np.uint8)
    joined = "".join(values.tolist()).encode("ascii")
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, width)


def shaped(values: pd.Series, pattern: str) -> np.ndarray:
    """Boolean mask of values that fully match ``pattern`` (missing values are False).
    Write digits as ``[0-9]``: ``\\d`` would also match other scripts' digits.
    """
    return values.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool, copy=True)
