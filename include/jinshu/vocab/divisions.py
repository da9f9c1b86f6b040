"""GB/T 2260 administrative divisions, read from python-stdnum's dated list.

The list ships inside python-stdnum (refreshed by its maintainers), so
nothing is fetched at run time.
"""

from __future__ import annotations

import re
from functools import cache

from stdnum import numdb

_SPAN = re.compile(r"\[(\d{4})?-(\d{4})?\]")


@cache
def _counties() -> dict[str, tuple[str, bool]]:
    """code -> (latest name, still in use) for every county-level code ever listed."""
    out: dict[str, tuple[str, bool]] = {}
    for _, province, _, _, children in numdb.get("cn/loc").prefixes:
        for _, rest, _, props, _ in children:
            label = props.get("county", "")
            spans = label.split(",")
            last = spans[-1]
            match = _SPAN.match(last)
            current = match is None or match.group(2) is None
            out[province + rest] = (_SPAN.sub("", last), current)
    return out


@cache
def address_codes() -> frozenset[str]:
    """Every address code a resident ID may start with, including HK/Macau/Taiwan permits."""
    return frozenset(_counties()) | {"810000", "820000", "830000"}


@cache
def shanxi_counties(current_only: bool = False) -> frozenset[str]:
    """County-level codes of Shanxi (not the ``xx00`` prefecture placeholders)."""
    return frozenset(
        code for code, (_, current) in _counties().items()
        if code.startswith("14") and not code.endswith("00") and (current or not current_only)
    )


def county_name(code: str) -> str | None:
    entry = _counties().get(code)
    return entry[0] if entry else None


def division_name(code: str) -> str | None:
    """The latest name of a GB/T 2260 code at any level (county, prefecture ``xxxx00``,
    province ``xx0000``); None for a code never listed.

    >>> division_name("140105"), division_name("140100"), division_name("140000")
    ('小店区', '太原市', '山西省')
    >>> division_name("149999") is None
    True
    """
    entry = _counties().get(code)
    return entry[0] if entry else None


def prefecture_of(code: str) -> str:
    """The prefecture-level code a county belongs to.

    >>> prefecture_of("140105")
    '140100'
    """
    return code[:4] + "00"


def province_of(code: str) -> str:
    """The province-level code.

    >>> province_of("140105")
    '140000'
    """
    return code[:2] + "0000"


def full_name(code: str) -> str | None:
    """Province, prefecture and county names joined, as an address begins.

    >>> full_name("140105"), full_name("140100"), full_name("140000")
    ('山西省太原市小店区', '山西省太原市', '山西省')
    """
    parts = [province_of(code), prefecture_of(code), code]
    names = [division_name(c) for c in dict.fromkeys(parts)]
    if None in names:
        return None
    return "".join(n for n in names if n != "市辖区")


@cache
def _district_names() -> dict[str, str]:
    """Text that names one current Shanxi county in an address -> its code: the prefecture and
    county names together, and the county name alone where no other county bears it
    (城区 and 郊区 are names in several prefectures)."""
    counties = [c for c in shanxi_counties(current_only=True) if division_name(c) != "市辖区"]
    names = {c: division_name(c) or "" for c in counties}
    alone = list(names.values())
    out = {(division_name(prefecture_of(c)) or "") + n: c for c, n in names.items()}
    out.update({n: c for c, n in names.items() if alone.count(n) == 1})
    return out


@cache
def district_pattern() -> re.Pattern[str]:
    """A regular expression whose one group finds the county named in a Shanxi address."""
    names = sorted(_district_names(), key=len, reverse=True)
    return re.compile("(" + "|".join(map(re.escape, names)) + ")")


def district_code(text: str) -> str | None:
    """The GB/T 2260 code of the Shanxi county an address names, or None.

    >>> district_code("山西省太原市小店区迎泽大街12号"), district_code("阳泉市城区南大街1号")
    ('140105', '140302')
    >>> district_code("城区南大街1号") is None  # 城区 alone could be one of several counties
    True
    """
    found = district_pattern().search(text)
    return _district_names()[found.group(1)] if found else None


# How a Chinese address begins: province, prefecture, county, largest first. Its head is cut
# at the first 区 or 县 (a county-level city, 永济市, has neither: then its first characters).
ADDRESS_HEAD = r"^(?P<head>.{0,12}?[区县])"
HEAD_CHARS = 12


def district_codes(texts) -> list[str | None]:
    """:func:`district_code` of each text, for whole columns: each address's head is cut by
    pyarrow (RE2) and each distinct head looked up once, so a million addresses take about a
    second.

    >>> district_codes(["山西省太原市小店区迎泽大街12号", None, "外省", "地址：阳泉市城区南大街",
    ...                 "山西省运城市永济市府西街176号"])
    ['140105', None, None, '140302', '140881']
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(texts if isinstance(texts, pd.Series) else list(texts), type=pa.string(),
                     from_pandas=True)
    if isinstance(array, pa.ChunkedArray):  # a large pandas column comes in chunks
        array = array.combine_chunks()
    cut = pc.struct_field(pc.extract_regex(array, pattern=ADDRESS_HEAD), [0])
    heads = pc.if_else(pc.is_valid(cut), cut, pc.utf8_slice_codeunits(array, 0, HEAD_CHARS))
    encoded = heads.dictionary_encode()
    found = np.array([district_code(t) for t in encoded.dictionary.to_pylist()] + [None], dtype=object)
    indices = encoded.indices.fill_null(len(found) - 1).to_numpy(zero_copy_only=False)
    return found[indices].tolist()
