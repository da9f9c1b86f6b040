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
worked out once (Arrow's dictionary encoding), and an address once per distinct part before
its house number, so a million records cost what their distinct values cost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jinshu.vocab.address import HOUSE_NUMBER, parse
from jinshu.vocab.hanzi import fold, syllables

INPUT_COLUMNS = ("record_id", "source_dataset", "name", "birth_date", "address")
OUTPUT_COLUMNS = ("record_id", "source_dataset", "name_norm", "name_chars", "name_sound",
                  "birth_date", "addr_county", "addr_rest")
_SEPARATORS = str.maketrans("", "", "·•・.-")
_DATE = re.compile(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?(?:T?\d{1,2}:\d{2}.*)?")


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
    name_norm, name_chars, name_sound = _each_distinct(records["name"], _name_parts, 3)
    [birth_date] = _each_distinct(records["birth_date"], lambda v: (_iso_date(v),), 1)
    county, rest = _address_columns(records["address"])
    derived = {"name_norm": name_norm, "name_chars": name_chars, "name_sound": name_sound,
               "birth_date": birth_date, "addr_county": county, "addr_rest": rest}
    return pd.DataFrame({
        "record_id": records["record_id"].astype("str").reset_index(drop=True),
        "source_dataset": records["source_dataset"].astype("str").reset_index(drop=True),
        **{name: array.to_pandas() for name, array in derived.items()}})


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
    >>> iso_date(datetime(1985, 3, 7, 8, 30)), iso_date("1985-03-07 00:00:00")
    ('1985-03-07', '1985-03-07')
    >>> iso_date("1985-02-30"), iso_date("unknown"), iso_date(None)
    (None, None, None)
    """
    return _iso_date(value)


def _arrow(column: pd.Series | pa.Array) -> pa.Array:
    """The column as one Arrow array (text, or dates as given); other values as text."""
    if isinstance(column, pa.Array):
        return column
    try:
        array = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds: dates among text, numbers
        array = pa.array([_text(v) for v in column.to_numpy(dtype=object)], pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, date):
        return _iso_date(value)
    return str(value)


def _each_distinct(column: pd.Series | pa.Array, parts: Callable[[object], tuple], width: int
                   ) -> list[pa.Array]:
    """``parts`` of each value, one Arrow text array per part, worked out once per distinct value."""
    encoded = pc.dictionary_encode(_arrow(column))
    results = [parts(v) for v in encoded.dictionary.to_pylist()]
    return [pa.array([r[i] for r in results], pa.large_string()).take(encoded.indices)
            for i in range(width)]


def _address_columns(column: pd.Series) -> tuple[pa.Array, pa.Array]:
    """County code and street + number: :func:`parse` once per distinct text before the number."""
    text = _arrow(column)
    if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
        text = pc.cast(text, pa.large_string())
    number = pc.struct_field(pc.extract_regex(text, HOUSE_NUMBER), [0])
    number = pc.utf8_normalize(pc.fill_null(number, ""), "NFKC")
    head = pc.replace_substring_regex(text, HOUSE_NUMBER, "")
    county, rest = _each_distinct(head, _head_parts, 2)
    rest = pc.binary_join_element_wise(rest, pc.cast(number, pa.large_string()),
                                       pa.scalar("", pa.large_string()))
    return county, pc.if_else(pc.equal(rest, ""), pa.scalar(None, pa.large_string()), rest)


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
            day = date(*map(int, match.groups()[:3])) if match else None
        except ValueError:
            day = None
    return None if day is None else day.isoformat()


def _head_parts(value: object) -> tuple[str | None, str | None]:
    """County code (or None) and the street ('' if none) of an address without its number."""
    if not isinstance(value, str):
        return None, None
    address = parse(value)
    return address.county or None, address.rest
