"""Chinese addresses split into their administrative levels, whatever the spelling.

Departments write the same address as 山西省太原市小店区迎泽大街12号, 太原小店区迎泽大街12号,
小店區迎澤大街１２號 or 山西太原小店迎泽大街12. :func:`parse` reads the province, the
prefecture and the county from GB/T 2260's names (python-stdnum's dated list, current and
former names, each with and without its 省/市/地区/县/区/旗/自治州 suffix), gives the county
as its code, and keeps the rest (street, number) folded, without the final 号. A level
may be missing; a short form followed by a street word (迎泽 in 迎泽大街) is a street, not
a county.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from stdnum import numdb

from jinshu.vocab.hanzi import fold

_SPAN = re.compile(r"\[\d{0,4}-\d{0,4}\]")
_SUFFIX = re.compile(  # what a short form drops: 'X族' runs before 自治, then the level's word
    r"(?:(?:[\u4e00-\u9fff]{1,2}族)+)?(?:特别行政区|自治区|自治州|自治县|自治旗|地区|特区|省|市|盟|县|区|旗)$")
HOUSE_NUMBER = r"(?P<number>[0-9０-９]+)\s*[号號]?\s*$"  # ends an address; RE2 reads it alike
_NUMBER = re.compile(HOUSE_NUMBER)
_STREET_WORD = ("大街", "大道", "街", "路", "道", "巷", "胡同", "里", "村", "号")
HOME_PROVINCE = "14"  # Shanxi: a short spelling that other provinces share too is read as Shanxi's
_AMBIGUOUS = "?"  # a spelling of two divisions: the text is a division, which one is unknown
_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


class Address(NamedTuple):
    province: str  # two-digit code, or ''
    prefecture: str  # four-digit code, or ''
    county: str  # six-digit GB/T 2260 code, or ''
    rest: str  # street and number, folded, no final 号


def parse(text: str) -> Address:
    """The levels found at the start of ``text``, then the rest.

    >>> parse("山西省太原市小店区迎泽大街12号")
    Address(province='14', prefecture='1401', county='140105', rest='迎泽大街12')
    >>> parse("太原小店区迎泽大街12號") == parse("山西太原市小店迎泽大街１２号")
    True
    >>> parse("太原市迎泽大街12号")  # 迎泽 here names the street, not 迎泽区
    Address(province='14', prefecture='1401', county='', rest='迎泽大街12')
    >>> parse("小店區迎澤大街12號").county
    '140105'
    >>> parse("矿区东大街36号").county, parse("郊区东大街36号").county  # current, then Shanxi's
    ('140303', '140311')
    >>> parse("城区朝阳街45号"), parse("晋城城区朝阳街45号").county  # 阳泉's or 晋城's
    (Address(province='', prefecture='', county='', rest='朝阳街45'), '140502')
    >>> parse("北京市東城區王府井大街1号")
    Address(province='11', prefecture='', county='110101', rest='王府井大街1')
    >>> parse("")
    Address(province='', prefecture='', county='', rest='')
    """
    number = _NUMBER.search(text)
    if number is None:
        return _parse_head(text)
    head = _parse_head(text[:number.start()])
    digits = number.group("number")
    if not digits.isascii():
        digits = unicodedata.normalize("NFKC", digits)
    return Address._make((head.province, head.prefecture, head.county, head.rest + digits))


@lru_cache(maxsize=1 << 16)
def _parse_head(text: str) -> Address:
    """What precedes the house number varies far less than whole addresses: parsed once each."""
    text = fold(text)
    gazetteer = _gazetteer()
    province, text = _take(text, gazetteer.provinces, gazetteer.lengths)
    prefectures = gazetteer.prefectures.get(province, gazetteer.all_prefectures)
    prefecture, text = _take(text, prefectures, gazetteer.lengths)
    if prefecture and prefecture != _AMBIGUOUS:
        province = prefecture[:2]
        counties = gazetteer.counties.get(prefecture, {})
    else:
        counties = gazetteer.counties.get(province, gazetteer.all_counties)
    county, text = _take(text, counties, gazetteer.lengths)
    prefecture, county = prefecture.replace(_AMBIGUOUS, ""), county.replace(_AMBIGUOUS, "")
    if county:
        prefecture = prefecture or _prefecture_of(county, gazetteer)
        province = province or county[:2]
    if text.endswith("号") and text[-2:-1].isdigit():
        text = text[:-1]
    return Address(province, prefecture, county, text)


def short_form(name: str) -> str:
    """A division's name without its level word (kept whole when that leaves one character).

    >>> [short_form(n) for n in ("山西省", "太原市", "万柏林区", "城区", "延边朝鲜族自治州", "吕梁地区")]
    ['山西', '太原', '万柏林', '城区', '延边', '吕梁']
    """
    short = _SUFFIX.sub("", name)
    return short if len(short) >= 2 else name


@dataclass(frozen=True)
class _Gazetteer:
    provinces: dict[str, str]  # spelling -> code
    prefectures: dict[str, dict[str, str]]  # province code -> spelling -> code
    all_prefectures: dict[str, str]
    counties: dict[str, dict[str, str]]  # prefecture or province code -> spelling -> code
    all_counties: dict[str, str]
    lengths: dict[str, tuple[int, ...]]  # first two characters -> lengths of spellings, longest first


def _take(text: str, spellings: dict[str, str], lengths: dict[str, tuple[int, ...]]
          ) -> tuple[str, str]:
    """The longest spelling ``text`` starts with, as (code, what follows); a short form
    followed by a street word does not count."""
    for length in lengths.get(text[:2], ()):
        code = spellings.get(text[:length])
        if code is None:
            continue
        rest = text[length:]
        if code.startswith("short:"):
            if rest.startswith(_STREET_WORD):
                continue
            code = code[6:]
        return code, rest
    return "", text


def _prefecture_of(county: str, gazetteer: _Gazetteer) -> str:
    code = county[:4]
    return code if code in gazetteer.all_prefectures.values() else ""


@cache
def _gazetteer() -> _Gazetteer:
    provinces: dict[str, str] = {}
    prefectures: dict[str, dict[str, str]] = {}
    counties: dict[str, dict[str, str]] = {}
    all_prefectures: dict[str, str] = {}
    all_counties: dict[str, str] = {}
    ranks: dict[tuple[int, str], tuple[bool, bool]] = {}
    for _, province_code, _, props, children in numdb.get("cn/loc").prefixes:
        _add(provinces, province_code, props.get("province", ""), True, ranks)
        for _, rest, _, child, _ in children:
            code = province_code + rest
            if rest == "0000":
                continue
            for name, current in _names(child.get("county", "")):
                if name in _PLACEHOLDERS:
                    continue
                if rest.endswith("00"):
                    for spellings in (prefectures.setdefault(province_code, {}), all_prefectures):
                        _add(spellings, code[:4], name, current, ranks)
                else:
                    for spellings in (counties.setdefault(code[:4], {}),
                                      counties.setdefault(province_code, {}), all_counties):
                        _add(spellings, code, name, current, ranks)
    lengths: dict[str, set[int]] = {}
    for name in [*provinces, *all_prefectures, *all_counties]:
        lengths.setdefault(name[:2], set()).add(len(name))
    return _Gazetteer(provinces, prefectures, all_prefectures, counties, all_counties,
                      {k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()})


def _names(label: str) -> list[tuple[str, bool]]:
    """'[-1997]北郊区,[1997-]小店区' -> every name it held, and whether it still holds it."""
    parts = label.split(",")
    out = []
    for i, part in enumerate(parts):
        span = _SPAN.match(part)
        current = i == len(parts) - 1 and (span is None or span.group().endswith("-]"))
        if name := _SPAN.sub("", part):
            out.append((name, current))
    return out


def _add(spellings: dict[str, str], code: str, name: str, current: bool,
         ranks: dict[tuple[int, str], tuple[bool, bool]]) -> None:
    """Record ``name`` and its short form for ``code``. Of two divisions spelled alike, a full
    name wins over a short form, then a current one over a former one, then Shanxi's; two
    alike on all three (城区 of 阳泉 and of 晋城) leave the spelling ambiguous."""
    if not name:
        return
    short = short_form(name)
    for spelling, is_short in ((name, False), (short, True)):
        if is_short and short == name:
            continue
        rank = (not is_short, current, code.startswith(HOME_PROVINCE))
        key = (id(spellings), spelling)
        known = spellings.get(spelling)
        if known is None or rank > ranks[key]:
            spellings[spelling] = ("short:" if is_short else "") + code
            ranks[key] = rank
        elif rank == ranks[key] and known.removeprefix("short:") != code:
            spellings[spelling] = ("short:" if is_short else "") + _AMBIGUOUS
