"""Spreadsheet formula injection (CWE-1236): no text cell we write starts a formula.

A spreadsheet (Excel, WPS, LibreOffice) opening a CSV runs a cell that begins with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)`` sends data away, ``+cmd|...``
once launched programs through DDE), and a leading tab or carriage return hides such a
prefix from a quick look. Every text cell that begins with one of them gets a leading
apostrophe, which spreadsheets read as "this is text" and show without it (OWASP's advice).
Numbers are never touched (``-2`` stays a number); every open-data file (CSV, JSON and
Parquet alike, so all three hold the same values) is written through :func:`neutralize_frame`.

>>> for v in ["=HYPERLINK(\\"http://x\\")", "+cmd|' /C calc'!A0", "@SUM(A1:A9)",
...           "-2+3+cmd|' /C calc'!A0", "\\t=1+1", "\\r=1", "太原市 = 龙城"]:
...     print(repr(neutralize(v)))
'\\'=HYPERLINK("http://x")'
"'+cmd|' /C calc'!A0"
"'@SUM(A1:A9)"
"'-2+3+cmd|' /C calc'!A0"
"'\\t=1+1"
"'\\r=1"
'太原市 = 龙城'
>>> is_formula("'=1+1"), is_formula("=1+1"), is_formula(-2)
(False, True, False)
"""

from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula(value: object) -> bool:
    """Whether a spreadsheet would read ``value`` (a cell's text) as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def neutralize(value: str) -> str:
    """``value`` as a spreadsheet will only ever show it: an apostrophe before a formula start."""
    return "'" + value if is_formula(value) else value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns hold no formula start (numbers untouched).

    >>> frame = pd.DataFrame({"note": ["=1+1", "ok", None], "n": [-2, 3, 4]})
    >>> neutralize_frame(frame).to_dict("list")
    {'note': ["'=1+1", 'ok', nan], 'n': [-2, 3, 4]}
    """
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        formulas = [v for v in column.unique() if is_formula(v)]  # distinct values only
        if formulas:
            out[name] = column.replace({v: neutralize(v) for v in formulas})
    return out
