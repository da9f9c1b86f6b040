"""Helpers to run checksums over fixed-width ASCII columns with numpy."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
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


def has_length(values: pd.Series, *lengths: int) -> np.ndarray:
    """Boolean mask of values with one of ``lengths`` characters (missing values are False)."""
    return values.str.len().isin(lengths).to_numpy(dtype=bool)


class Failures:
    """Which part of a format each value fails first, over a whole column.

    python-stdnum's ``validate`` raises a specific exception (``InvalidLength``,
    ``InvalidFormat``, ``InvalidChecksum``...); here each check runs over the
    values that passed every check before it, and marks the ones it rejects.

    >>> found = Failures(pd.Series(["12", "1a", "123"], dtype="str"), ["length", "characters"])
    >>> found.fail("length", ~has_length(found.passing(), 2))
    >>> found.fail("characters", ~shaped(found.passing(), "[0-9]+"))
    >>> found.result().tolist()
    [nan, 'characters', 'length']
    """

    def __init__(self, values: pd.Series, parts: Iterable[str]) -> None:
        self.values = values
        self.parts = list(parts)
        self.codes = np.full(len(values), -1, dtype=np.int8)

    def passing(self) -> pd.Series:
        """The values that have failed no check so far."""
        return self.values[self.codes < 0]

    def fail(self, part: str, bad: np.ndarray) -> None:
        """Mark as failing ``part`` the values of :meth:`passing` (same order) where ``bad``."""
        still = np.flatnonzero(self.codes < 0)
        self.codes[still[np.asarray(bad, dtype=bool)]] = self.parts.index(part)

    def result(self) -> pd.Series:
        """Per value the part it failed (categorical over ``parts``), missing where valid."""
        return pd.Series(pd.Categorical.from_codes(self.codes, categories=self.parts),
                         index=self.values.index)
