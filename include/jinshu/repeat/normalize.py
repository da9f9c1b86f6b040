"""Person records made comparable before probabilistic matching (the columns Splink reads).

One department writes 張偉, 山西省太原市小店區迎澤大街12號, 1985-03-07; another 伟张,
太原小店区迎泽大街１２号, 1985/3/7. :func:`comparable` turns ``name``, ``birth_date`` and
``address`` into:

- ``name_norm``: folded (:func:`jinshu.vocab.hanzi.fold`: full-width, spaces, traditional
  -> simplified), separators (·) dropped; ``name_chars``: its characters sorted, so a
  swapped surname and given name agree; ``name_sound``: its toneless syllables sorted, so a
  homophone typo agrees too;
- ``birth_date`` ``YYYY-MM-DD`` (ISO, ``YYYY/M/D``, ``YYYYMMDD``, ``YYYY年M月D日``, a date);
  an impossible date is missing;
- ``addr_county`` (GB/T 2260 code) and ``addr_rest`` (street and number) from
  :func:`jinshu.vocab.address.parse`.

A missing or empty value is missing (``None``), never a match. Each distinct value is
worked out once, so a million records with many repeated names cost what their distinct
values cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import pandas as pd

from jinshu.vocab.address import parse
from jinshu.vocab.hanzi import fold, syllables

INPUT_COLUMNS = ("record_id", "source_dataset", "name", "birth_date", "address")
OUTPUT_COLUMNS = ("record_id", "source_dataset", "name_norm", "name_chars", "name_sound",
                  "birth_date", "addr_county", "addr_rest")
_SEPARATORS = str.maketrans("", "", "·•・.-")
_DATE = re.compile(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?")


def comparable(records: pd.DataFrame) -> pd.DataFrame:
    """The :data:`OUTPUT_COLUMNS` for ``records`` (which has :data:`INPUT_COLUMNS`), same order.

    >>> frame = pd.DataFrame({"record_id": ["a", "b"], "source_dataset": ["x", "y"],
    ...     "name": ["張偉", "伟 张"], "birth_date": ["1985-03-07", "1985/7/3"],
    ...     "address": ["山西省太原市小店區迎澤大街12號", "太原小店区迎泽大街１２号"]})
    >>> out = comparable(frame)
    >>> out["name_chars"].tolist(), out["birth_date"].tolist()
    (['伟张', '伟张'], ['1985-03-07', '1985-07-03'])
    >>> out[["addr_county", "addr_rest"]].to_numpy().tolist()
    [['140105', '迎泽大街12'], ['140105', '迎泽大街12']]
    """
    missing = [c for c in INPUT_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"records lack the column(s) {missing}: give record_id, source_dataset, "
                         "name, birth_date and address (empty where unknown)")
    out = pd.DataFrame({"record_id": records["record_id"].astype("str").to_numpy(),
                        "source_dataset": records["source_dataset"].astype("str").to_numpy()})
    name = _each_distinct(records["name"], _name_parts)
    out["name_norm"], out["name_chars"], out["name_sound"] = name.T
    out["birth_date"] = _each_distinct(records["birth_date"], _iso_date)
    out["addr_county"], out["addr_rest"] = _each_distinct(records["address"], _address_parts).T
    return out


def name_parts(value: object) -> tuple[str | None, str | None, str | None]:
    """(folded name, its characters sorted, its syllables sorted), or Nones.

    >>> name_parts("王建國"), name_parts("建国 王")[1:], name_parts("王玮")[2] == name_parts("汪伟")[2]
    (('王建国', '国建王', 'guo jian wang'), ('国建王', 'guo jian wang'), True)
    >>> name_parts("  ")
    (None, None, None)
    """
    return _name_parts(value)


def iso_date(value: object) -> str | None:
    """YYYY-MM-DD, or None when not a possible date.

    >>> iso_date("1985年3月7日"), iso_date(date(1985, 3, 7)), iso_date("19850307"), iso_date("1985/3/7")
    ('1985-03-07', '1985-03-07', '1985-03-07', '1985-03-07')
    >>> iso_date("1985-02-30"), iso_date("unknown"), iso_date(None)
    (None, None, None)
    """
    return _iso_date(value)


def _each_distinct(column: pd.Series, parts: Callable[[object], object]) -> np.ndarray:
    """``parts`` of each value (an object array, ``n x k`` for tuples), once per distinct value."""
    codes, distinct = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)
    table = np.empty(len(distinct) + 1, dtype=object)
    table[:] = [parts(v) for v in distinct] + [parts(None)]
    if isinstance(table[-1], tuple):
        table = np.array(table.tolist(), dtype=object)
    return table[codes]  # the sentinel -1 picks the last row: parts(None)


def _name_parts(value: object) -> tuple[str | None, str | None, str | None]:
    if not isinstance(value, str):
        return None, None, None
    name = fold(value).translate(_SEPARATORS)
    if not name:
        return None, None, None
    return name, "".join(sorted(name)), " ".join(sorted(syllables(name)))


def _iso_date(value: object) -> str | None:
    if isinstance(value, date):
        day = value.date() if isinstance(value, datetime) else value
    else:
        match = _DATE.fullmatch(fold(value)) if isinstance(value, str) else None
        try:
            day = date(*map(int, match.groups())) if match else None
        except ValueError:
            day = None
    return None if day is None else day.isoformat()


def _address_parts(value: object) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, None
    address = parse(value)
    return address.county or None, address.rest or None
