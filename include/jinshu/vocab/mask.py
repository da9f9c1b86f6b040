"""Masking functions per data type (docs/regulation.md#masking), vectorized over a Series.

Missing values stay missing. Each function keeps just enough to be useful
to a person reading the record and no more.

>>> import pandas as pd
>>> cn_ric(pd.Series(["14010520010815068X"])).tolist()
['1****************X']
>>> mobile(pd.Series(["13812345678"])).tolist()
['138****5678']
>>> name(pd.Series(["欧阳娜娜"])).tolist()
['欧***']
>>> address(pd.Series(["山西省太原市小店区迎泽大街12号"])).tolist()
['山西省太原市小店区***']
>>> email(pd.Series(["li.ming@example.cn"])).tolist()
['l***@example.cn']
>>> date_year(pd.Series(["1998-03-07"])).tolist()
['1998']
>>> age_band(pd.Series(["7", "37", "64", "101"])).tolist()
['0-9', '30-39', '60-69', '100+']
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def _stars(values: pd.Series, keep_head: int, keep_tail: int) -> pd.Series:
    """Keep ``keep_head`` leading and ``keep_tail`` trailing chars; star the rest (at least one)."""
    middle = values.str.slice(keep_head, -keep_tail if keep_tail else None)
    stars = middle.str.replace(r".", "*", regex=True).mask(middle.str.len() == 0, "*")
    tail = values.str.slice(-keep_tail) if keep_tail else ""
    masked = values.str.slice(0, keep_head) + stars + tail
    return masked.mask(values.str.len() <= keep_head + keep_tail, "***")


def name(values: pd.Series) -> pd.Series:
    return _stars(values, 1, 0)


def cn_ric(values: pd.Series) -> pd.Series:
    """First 1 + the check character: the 17th digit (odd = male) and the county stay hidden.

    Six-plus-four would reveal county and sex; even first-1 + last-2 shows the
    sex digit beside a masked ``sex`` field. Anything but 18 characters (the
    old 15-digit form ends with its sex digit) shows nothing.
    """
    return _stars(values, 1, 1).mask(values.str.len() != 18, "***")


def mobile(values: pd.Series) -> pd.Series:
    return _stars(values, 3, 4)


def bank_card(values: pd.Series) -> pd.Series:
    return _stars(values, 4, 4)


_PROVINCE = r"(?:[^省市区县]{1,7}(?:省|自治区))?"
_CITY = r"(?:[^省市区县]{1,6}?(?:市|州|盟|地区))?"
_DISTRICT = r"[^省市区县旗路街道巷号楼]{1,5}?(?:区|县|旗|市)"


def address(values: pd.Series) -> pd.Series:
    """Keep down to the district or county; street, compound and number are hidden."""
    district = values.str.extract(f"^({_PROVINCE}{_CITY}{_DISTRICT})", expand=False)
    city = values.str.extract(f"^({_PROVINCE}[^省市区县]{{1,6}}?(?:市|州|盟|地区))", expand=False)
    return district.fillna(city).fillna("") + "***"


def email(values: pd.Series) -> pd.Series:
    domain = values.str.extract(r"@([^@]*)$", expand=False)
    return (values.str.slice(0, 1) + "***@" + domain).fillna("***").mask(values.isna())


def date_year(values: pd.Series) -> pd.Series:
    return values.astype("str").str.slice(0, 4)


def date_month(values: pd.Series) -> pd.Series:
    return values.astype("str").str.slice(0, 7)


def age_band(values: pd.Series) -> pd.Series:
    """Ages as ten-year bands (``30-39``), ``100+`` at the top; non-numbers hidden."""
    years = pd.to_numeric(values, errors="coerce")
    low = (years // 10 * 10).astype("Int64").astype("str")
    bands = low + "-" + (years // 10 * 10 + 9).astype("Int64").astype("str")
    return bands.mask(years >= 100, "100+").mask(years.isna() | (years < 0), "***")


def generic(values: pd.Series) -> pd.Series:
    """Nothing of the value is shown: even one character can be the whole answer (男, 汉)."""
    return pd.Series("***", index=values.index, dtype="str")


MASKS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "name": name, "cn_ric": cn_ric, "mobile": mobile, "bank_card": bank_card,
    "address": address, "email": email, "date_year": date_year, "date_month": date_month,
    "age_band": age_band, "generic": generic,
}


def as_text(values: pd.Series) -> pd.Series:
    """Values as the ``str`` dtype, missing kept missing, whatever the source type."""
    if values.dtype == "str":
        return values
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return values.astype("str")  # Arrow strings: a cast, not a trip through Python
    return pd.Series(values.astype(object).where(values.notna(), None), index=values.index,
                     dtype="str")


def apply(kind: str, values: pd.Series) -> pd.Series:
    text = as_text(values)
    return MASKS[kind](text).mask(text.isna())
