"""Helpers to run checksums over fixed-width ASCII columns with numpy, and to get there."""

from __future__ import annotations

import unicodedata
from functools import cache

import numpy as np
import pandas as pd

SEPARATORS = " -._/"  # what people put between the digits of a long number


@cache
def fold_table() -> dict[int, str | None]:
    """``str.translate`` table: the non-ASCII characters that matter to a number.

    Digits of every script -> ASCII (``unicodedata.decimal``); format characters
    (zero-width space and joiner, BOM, soft hyphen...) -> dropped; Unicode spaces -> ' ';
    dashes -> '-'; what NFKC turns into one ASCII letter, digit or separator (full-width
    forms, circled digits) -> that character. Other punctuation is left alone.
    """
    table: dict[int, str | None] = {}
    for code in (*range(0x80, 0x20000), *range(0xE0000, 0xE1000)):
        char = chr(code)
        category = unicodedata.category(char)
        folded = unicodedata.normalize("NFKC", char)
        if category == "Nd":
            table[code] = str(unicodedata.decimal(char))
        elif category == "Cf":
            table[code] = None
        elif category == "Zs":
            table[code] = " "
        elif category == "Pd":
            table[code] = "-"
        elif folded != char and len(folded) == 1 and folded.isascii() \
                and (folded.isalnum() or folded in SEPARATORS):
            table[code] = folded
    return table


def ascii_digits(values: pd.Series) -> pd.Series:
    """Values with :func:`fold_table` applied (``'１٤\\u200b0'`` -> ``'140'``).

    Only values holding a non-ASCII character are rewritten, so an all-ASCII column
    costs one vectorized check.
    """
    odd = values.notna() & ~values.str.isascii().fillna(True).astype(bool)
    if not odd.any():
        return values
    out = values.copy()
    out[odd] = values[odd].str.translate(fold_table())
    return out


def without(values: pd.Series, characters: str) -> pd.Series:
    """Values with every one of ``characters`` removed (the column untouched when none holds one)."""
    pattern = "[" + "".join("\\" + c if c in "\\]^-" else c for c in characters) + "]"
    if not values.str.contains(pattern, regex=True).fillna(False).astype(bool).any():
        return values
    return values.str.replace(pattern, "", regex=True)


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
