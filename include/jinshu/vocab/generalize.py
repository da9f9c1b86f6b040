"""Generalization hierarchies for quasi-identifiers (GB/T 37964-2019 §8, generalization).

Each kind of field has named levels, from the least to the most general; a contract's
``open.quasi_identifiers`` lists which levels a field may be published at
(:mod:`jinshu.open.anonymize` climbs them until every combination appears k times).
Vectorized over a Series; the result is text (pandas ``str``), missing values stay missing.

>>> import pandas as pd
>>> generalize("year", pd.Series(["1998-03-07", None])).tolist()
['1998', nan]
>>> generalize("decade", pd.Series(["1998-03-07"])).tolist()
['1990-1999']
>>> generalize("band5", pd.Series([7, 37, 101])).tolist()
['5-9', '35-39', '100-104']
>>> generalize("band10", pd.Series(["64"])).tolist()
['60-69']
>>> generalize("prefecture", pd.Series(["140105", "140302"])).tolist()
['140100', '140300']
>>> generalize("district", pd.Series(["山西省太原市小店区迎泽大街12号", "外省某地"])).tolist()
['山西省太原市小店区', nan]
>>> generalize("city", pd.Series(["山西省太原市小店区迎泽大街12号"])).tolist()
['山西省太原市']

A level that does not fit the field's kind is refused when the contract loads:

>>> kind_of("date", None, None), levels_for("date")
('date', ('exact', 'month', 'year', 'decade'))
"""

from __future__ import annotations

import pandas as pd

from jinshu.vocab import divisions

# Levels per kind, least general first. ``exact`` publishes the value as stored.
LEVELS: dict[str, tuple[str, ...]] = {
    "date": ("exact", "month", "year", "decade"),
    "number": ("exact", "band5", "band10", "band20"),
    "division": ("county", "prefecture", "province"),  # a GB/T 2260 code
    "address": ("district", "city", "province_name"),  # free text naming a Shanxi county
    "text": ("exact",),
}
# What each level is called on the page and in the package (Chinese first).
LEVEL_TITLES = {
    "exact": "原值 as stored", "month": "年月 month", "year": "年份 year", "decade": "年代 decade",
    "band5": "5 岁组 5-year band", "band10": "10 岁组 10-year band", "band20": "20 岁组 20-year band",
    "county": "县（区） county", "prefecture": "市 prefecture", "province": "省 province",
    "district": "县（区） district", "city": "市 city", "province_name": "省 province",
}


def kind_of(field_type: str, format_: str | None, mask: str | None) -> str:
    """The hierarchy a field climbs, from its contract type, format and mask."""
    if field_type == "date":
        return "date"
    if field_type in ("integer", "decimal"):
        return "number"
    if format_ is not None and format_.startswith("gb2260"):
        return "division"
    if mask == "address":
        return "address"
    return "text"


def levels_for(kind: str) -> tuple[str, ...]:
    return LEVELS[kind]


def _band(values: pd.Series, width: int) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    low = (numbers // width * width).astype("Int64")
    text = low.astype("str") + "-" + (low + width - 1).astype("str")
    return text.where(numbers.notna()).astype("str")


def _dates(values: pd.Series, level: str) -> pd.Series:
    text = values.astype("str")
    if level == "month":
        return text.str.slice(0, 7)
    if level == "year":
        return text.str.slice(0, 4)
    decade = text.str.slice(0, 3)
    return decade + "0-" + decade + "9"


def _division(values: pd.Series, level: str) -> pd.Series:
    text = values.astype("str")
    if level == "county":
        return text
    return text.str.slice(0, 4) + "00" if level == "prefecture" else text.str.slice(0, 2) + "0000"


def _address(values: pd.Series, level: str) -> pd.Series:
    codes = pd.Series(divisions.district_codes(values), index=values.index, dtype="str")
    step = {"district": lambda c: c, "city": divisions.prefecture_of,
            "province_name": divisions.province_of}[level]
    names = {c: divisions.full_name(step(c)) for c in codes.dropna().unique()}
    return codes.map(names).astype("str")


def generalize(level: str, values: pd.Series) -> pd.Series:
    """``values`` at ``level`` (one of :data:`LEVELS`)."""
    if level == "exact":
        return values.astype("str")
    if level in ("month", "year", "decade"):
        return _dates(values, level)
    if level.startswith("band"):
        return _band(values, int(level.removeprefix("band")))
    if level in LEVELS["division"]:
        return _division(values, level)
    if level in LEVELS["address"]:
        return _address(values, level)
    raise ValueError(f"unknown generalization level '{level}'")
