"""Person records made comparable before probabilistic matching (the columns Splink reads).

One department writes 張偉, 山西省太原市小店區迎澤大街12號, 1985-03-07; another 伟张,
太原小店区迎泽大街１２号, 1985/3/7. :func:`comparable` turns ``name``, ``birth_date`` and
``address`` into:

- ``name_norm``: folded (:func:`jinshu.vocab.hanzi.fold`: full-width, spaces, traditional
  -> simplified), separators (·) dropped; ``name_chars``: its characters sorted, so a
  swapped surname and given name agree; ``name_sound``: its toneless syllables sorted, so a
  homophone typo agrees too;
- ``birth_date`` ``YYYY-MM-DD`` (ISO, ``YYYY/M/D``, ``YYYYMMDD``, ``YYYY年M月D日``, a date),
  and ``birth_year``, ``birth_md`` (``MM-DD``), ``birth_dm`` (``DD-MM``) for a swapped day
  and month; an impossible date is missing;
- ``addr_county`` (GB/T 2260 code), ``addr_rest`` (street and number),
  ``addr_key`` (county + rest) from :func:`jinshu.vocab.address.parse`.

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
                  "birth_date", "birth_year", "birth_md", "birth_dm",
                  "addr_county", "addr_rest", "addr_key")
_SEPARATORS = str.maketrans("", "", "·•・.-")
_DATE = re.compile(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?")


def comparable(records: pd.DataFrame) -> pd.DataFrame:
    """The :data:`OUTPUT_COLUMNS` for ``records`` (which has :data:`INPUT_COLUMNS`), same order.

    >>> frame = pd.DataFrame({"record_id": ["a", "b"], "source_dataset": ["x", "y"],
    ...     "name": ["張偉", "伟 张"], "birth_date": ["1985-03-07", "1985/7/3"],
    ...     "address": ["山西省太原市小店區迎澤大街12號", "太原小店区迎泽大街１２号"]})
    >>> out = comparable(frame)
    >>> out["name_chars"].tolist() == ["伟张", "伟张"], out["birth_md"].tolist() == out["birth_dm"][::-1].tolist()
    (True, True)
    >>> out["addr_key"].tolist()
    ['140105|迎泽大街12', '140105|迎泽大街12']
    """
    missing = [c for c in INPUT_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"records lack the column(s) {missing}: give record_id, source_dataset, "
                         "name, birth_date and address (empty where unknown)")
    out = pd.DataFrame({"record_id": records["record_id"].astype("str").to_numpy(),
                        "source_dataset": records["source_dataset"].astype("str").to_numpy()})
    name = _each_distinct(records["name"], _name_parts)
    out["name_norm"], out["name_chars"], out["name_sound"] = name.T
    birth = _each_distinct(records["birth_date"], _date_parts)
    out["birth_date"], out["birth_year"], out["birth_md"], out["birth_dm"] = birth.T
    address = _each_distinct(records["address"], _address_parts)
    out["addr_county"], out["addr_rest"], out["addr_key"] = address.T
    return out


def name_parts(value: object) -> tuple[str | None, str | None, str | None]:
    """(folded name, its characters sorted, its syllables sorted), or Nones.

    >>> name_parts("王建國"), name_parts("建国 王")[1:], name_parts("王玮")[2] == name_parts("汪伟")[2]
    (('王建国', '国建王', 'guo jian wang'), ('国建王', 'guo jian wang'), True)
    >>> name_parts("  ")
    (None, None, None)
    """
    return _name_parts(value)


def date_parts(value: object) -> tuple[str | None, str | None, str | None, str | None]:
    """(YYYY-MM-DD, year, MM-DD, DD-MM), or Nones when not a possible date.

    >>> date_parts("1985年3月7日"), date_parts(date(1985, 3, 7))[0], date_parts("19850307")[0]
    (('1985-03-07', '1985', '03-07', '07-03'), '1985-03-07', '1985-03-07')
    >>> date_parts("1985-02-30"), date_parts("unknown")
    ((None, None, None, None), (None, None, None, None))
    """
    return _date_parts(value)


def _each_distinct(column: pd.Series, parts: Callable[[object], tuple]) -> np.ndarray:
    """``parts`` of each value as an ``n x k`` object array, computed once per distinct value."""
    codes, distinct = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)
    table = np.array([parts(v) for v in distinct] + [parts(None)], dtype=object)
    return table[codes]  # the sentinel -1 picks the last row: parts(None)


def _name_parts(value: object) -> tuple[str | None, str | None, str | None]:
    if not isinstance(value, str):
        return None, None, None
    name = fold(value).translate(_SEPARATORS)
    if not name:
        return None, None, None
    return name, "".join(sorted(name)), " ".join(sorted(syllables(name)))


def _date_parts(value: object) -> tuple[str | None, str | None, str | None, str | None]:
    if isinstance(value, date):
        day = value.date() if isinstance(value, datetime) else value
    else:
        match = _DATE.fullmatch(fold(value)) if isinstance(value, str) else None
        try:
            day = date(*map(int, match.groups())) if match else None
        except ValueError:
            day = None
    if day is None:
        return None, None, None, None
    iso = day.isoformat()
    return iso, iso[:4], iso[5:], f"{iso[8:]}-{iso[5:7]}"


def _address_parts(value: object) -> tuple[str | None, str | None, str | None]:
    if not isinstance(value, str):
        return None, None, None
    address = parse(value)
    county, rest = address.county or None, address.rest or None
    return county, rest, f"{county}|{rest}" if county and rest else None
