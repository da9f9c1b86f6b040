"""Deterministic sample extracts for the demo, the tests and the benchmark.

:func:`generate_frame` makes rows that are valid against a contract: every
row imagines one person (county, sex, birth date, ID number, name), and each
field is drawn from that person or from the field's format, code list, type
or name. Everything is vectorized with numpy and pyarrow, so a million rows
take seconds. :func:`render_extract` serializes a frame the way a department
would send it, optionally with one or more of the :data:`FAULTS` the
pipeline must catch. Generated records agree with their own identifiers
(birth date, sex and county with the ID number, region with the credit
code); the ``contradicting_fields`` fault breaks that for a few of them.

The same contract, row count, seed and faults always give the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from faker.providers.person.zh_CN import Provider as ZhPerson
from stdnum import numdb

from jinshu.catalog import Contract, FieldSpec
from jinshu.vocab.divisions import county_name, shanxi_counties
from jinshu.vocab.formats import cn_ric, uscc

FAULTS = ("bad_checksum", "duplicate_rows", "undeclared_column", "gb18030", "xlsx", "ragged_rows",
          "contradicting_fields")
UNDECLARED_COLUMN = "备注"
UNDECLARED_MARKER = "UNDECLARED-MARKER"
Header = Literal["title", "name"]

BLANK_SHARE = 0.05  # optional fields left empty
BIRTH_YEARS = (1940, 2008)
LAST_BIRTH = np.datetime64(f"{BIRTH_YEARS[1]}-12-31")
EVENT_START = np.datetime64("1990-01-01")
TODAY = np.datetime64("2026-11-01")  # no generated date is later
ADULT_DAYS = 16 * 365 + 4  # events about a person happen from about age 16

AREA_CODES = {  # landline area code by prefecture (the code's middle two digits)
    1: "0351", 2: "0352", 3: "0353", 4: "0355", 5: "0356", 6: "0349",
    7: "0354", 8: "0359", 9: "0350", 10: "0357", 11: "0358",
}
MOBILE_PREFIXES = (*range(130, 140), *range(150, 154), *range(155, 160), 166, 177,
                   *range(180, 190), 198, 199)
STREETS = ("迎泽大街", "解放路", "五一路", "府西街", "新建路", "和平路", "建设路", "人民路",
           "文化街", "朝阳街", "中心街", "胜利街", "东大街", "西大街", "南关街", "北关街",
           "长治路", "平阳路", "滨河路", "府前街")
SUBDISTRICTS = ("城关", "东关", "西关", "南关", "北关", "新华", "解放", "朝阳", "和平", "胜利",
                "建设", "城东", "城西", "城南", "城北")
BRANDS = ("晋鑫", "华通", "恒泰", "鼎盛", "汇丰", "宏达", "瑞丰", "金桥", "永兴", "德润",
          "龙城", "中瑞", "新源", "泰和", "益民", "三晋", "汾河", "太行", "黄河", "晋阳")
INDUSTRIES = ("煤业", "商贸", "建筑工程", "农业科技", "物流", "餐饮管理", "新能源科技", "酿造",
              "机械制造", "文化传媒", "房地产开发", "医药", "钢铁", "信息技术", "环保科技")
SERVICE_HOURS = ("周一至周五 8:00-12:00", "周一至周五 8:00-12:00 14:30-17:30",
                 "周一至周六 8:30-11:30", "周二、周四 8:00-11:30", "周一至周日 8:00-12:00")
ETHNICITIES = ("汉族", "回族", "满族", "蒙古族")
ETHNICITY_SHARES = (0.97, 0.01, 0.01, 0.01)
SYLLABLES = ("wang", "li", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu", "xu",
             "sun", "hu", "zhu", "gao", "lin", "he", "guo", "ma", "luo", "wei", "qiang", "min",
             "jing", "hua", "jun", "fang", "lei", "yan", "ping")
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com")
REMARKS = ("已电话核实", "待补充材料", "信息变更", "迁入人员", "核对无误")
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714 organization code check
ORG_VALUES = np.array([int(c, 36) for c in uscc.ALPHABET])  # GB 11714 values: A=10 ... Z=35
CHECK_ALPHABETS = {"cn_ric": "0123456789X", "uscc": uscc.ALPHABET}  # check characters by format
_SPAN_START = re.compile(r"\[(\d{4})-")  # '[1997-]小店区': python-stdnum's dated names


@dataclass(frozen=True)
class People:
    """One imagined person per row, from whom the row's fields are drawn."""

    county: np.ndarray  # int64 six-digit GB/T 2260 codes
    male: np.ndarray  # bool
    birth: np.ndarray  # datetime64[D]
    key: np.ndarray  # int64: the ID number's first 17 digits, distinct

    def __len__(self) -> int:
        return len(self.key)


Maker = Callable[[FieldSpec, People, np.random.Generator], pa.Array]


# --- public API --------------------------------------------------------------------------


def generate_frame(
    contract: Contract, rows: int, seed: int = 0, *, ids: pd.Series | None = None
) -> pd.DataFrame:
    """``rows`` x the contract's fields, all values ``str``, valid against the contract.

    ``ids`` (ID numbers from another generated frame) makes the rows reuse
    those people: same ID, name, sex, birth date and county.
    """
    people = _people(_rng(seed, contract.id, "people"), rows, ids)
    keys = {*contract.natural_key, contract.subject_key}
    columns = {}
    for spec in contract.fields:
        values = _maker(spec)(spec, people, _rng(seed, contract.id, spec.name))
        if not spec.required and spec.name not in keys:
            blank = _rng(seed, contract.id, spec.name, "blank").random(rows) < BLANK_SHARE
            values = pc.if_else(pa.array(blank), "", values)
        columns[spec.name] = pd.array(values, dtype="str")
    return pd.DataFrame(columns, index=pd.RangeIndex(rows))


def render_extract(
    contract: Contract,
    frame: pd.DataFrame,
    *,
    faults: Collection[str] = frozenset(),
    seed: int = 0,
    header: Header = "title",
) -> tuple[str, bytes]:
    """Serialize ``frame`` as a department's extract: ``(file_name, bytes)``.

    CSV in UTF-8 with ``\\n`` line endings and minimal quoting, headed by the
    field titles (``header="title"``) or names (``"name"``); ``faults`` add
    the named defects (see :data:`FAULTS`).
    """
    faults = _checked_faults(faults, header)
    if "bad_checksum" in faults:
        frame = _corrupt_checks(contract, frame, _rng(seed, contract.id, "bad_checksum"))
    if "contradicting_fields" in faults:
        frame = _contradict(contract, frame, _rng(seed, contract.id, "contradicting_fields"))
    if "undeclared_column" in faults:
        frame = _with_remarks(frame, _rng(seed, contract.id, "undeclared_column"))
    if "duplicate_rows" in faults:
        frame = _with_duplicates(frame, _rng(seed, contract.id, "duplicate_rows"))
    if header == "title":
        frame = frame.rename(columns={f.name: f.title for f in contract.fields})
    stem = f"{contract.id}_{seed}"
    if "xlsx" in faults:
        return f"{stem}.xlsx", _xlsx(frame)
    data = _csv(frame)
    if "ragged_rows" in faults:
        data = _ragged(data.decode(), _rng(seed, contract.id, "ragged_rows")).encode()
    if "gb18030" in faults:
        data = data.decode().encode("gb18030")
    return f"{stem}.csv", data


def generate_extract(
    contract: Contract,
    rows: int,
    *,
    seed: int = 0,
    faults: Collection[str] = frozenset(),
    header: Header = "title",
) -> tuple[str, bytes]:
    """:func:`generate_frame` then :func:`render_extract`."""
    frame = generate_frame(contract, rows, seed)
    return render_extract(contract, frame, faults=faults, seed=seed, header=header)


def write_sample_landing(
    landing_dir: Path, contracts: Mapping[str, Contract], rows: int, seed: int = 0
) -> list[Path]:
    """One clean extract per contract at ``landing_dir/<department>/<dataset>/<file>``."""
    paths = []
    for contract in contracts.values():
        name, data = generate_extract(contract, rows, seed=seed)
        path = landing_dir / contract.landing_prefix / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


# --- randomness and small helpers ------------------------------------------------------


def _rng(seed: int, *labels: str) -> np.random.Generator:
    """A generator of its own for each (seed, labels), so streams do not shift one another."""
    return np.random.default_rng([seed, *(zlib.crc32(label.encode()) for label in labels)])


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: well-spread uint64 hashes of integer keys."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _pick(vocabulary: Sequence[str], index: np.ndarray) -> pa.Array:
    return pa.array(vocabulary, pa.string()).take(pa.array(index))


def _choice(vocabulary: Sequence[str], rng: np.random.Generator, n: int) -> pa.Array:
    return _pick(vocabulary, rng.integers(0, len(vocabulary), n))


def _lookup(codes: np.ndarray, label: Callable[[int], str]) -> pa.Array:
    """``label(code)`` for each code, computed once per distinct code."""
    distinct, inverse = np.unique(codes, return_inverse=True)
    return _pick([label(int(code)) for code in distinct], inverse)


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ascii(matrix: np.ndarray) -> pa.Array:
    """Strings from an ``n x width`` uint8 matrix of ASCII codes."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """``n x width`` matrix of the decimal digits (0-9) of non-negative ints, zero-padded."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values.astype(np.int64)[:, None] // powers % 10).astype(np.uint8)


def _distinct(prefix: np.ndarray, base: int, draw: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Keys ``prefix * base + draw(rows)``, redrawing the tails of repeated keys until none repeat."""
    keys = prefix * base + draw(np.arange(len(prefix)))
    repeated = np.flatnonzero(pd.Series(keys).duplicated().to_numpy())
    while len(repeated):
        keys[repeated] = prefix[repeated] * base + draw(repeated)
        repeated = np.flatnonzero(pd.Series(keys).duplicated().to_numpy())
    return keys


def _ymd(days: np.ndarray) -> np.ndarray:
    """datetime64[D] -> int YYYYMMDD."""
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year * 10000 + month * 100 + day


def _from_ymd(ymd: np.ndarray) -> np.ndarray:
    """int YYYYMMDD -> datetime64[D]."""
    months = (ymd // 10000 - 1970) * 12 + ymd // 100 % 100 - 1
    return months.astype("datetime64[M]").astype("datetime64[D]") + (ymd % 100 - 1)


def _uniform_days(rng: np.random.Generator, low: np.ndarray, high: np.datetime64) -> np.ndarray:
    """One day per row, uniform in ``[low, high]``."""
    span = (high - low).astype(np.int64) + 1
    return low + (rng.random(len(low)) * span).astype(np.int64)


# --- people ------------------------------------------------------------------------------


@cache
def _counties() -> tuple[np.ndarray, np.ndarray]:
    """Current Shanxi county codes (no '市辖区' placeholders) and the earliest birth date for each.

    python-stdnum rejects an ID whose address code did not exist in the birth
    year, so people are born no earlier than their code's first year in its
    list (codes first listed after the birth years keep all of them).
    """
    codes = sorted(c for c in shanxi_counties(current_only=True) if county_name(c) != "市辖区")
    first, last = BIRTH_YEARS
    years = [start if first < start <= last else first for start in map(_first_year, codes)]
    return np.array(codes, dtype=np.int64), np.array([f"{y}-01-01" for y in years], "datetime64[D]")


def _first_year(code: str) -> int:
    """The year python-stdnum's division list starts the code's current name (0 if none)."""
    label = numdb.get("cn/loc").info(code)[-1][1].get("county", "")
    start = _SPAN_START.match(label.split(",")[-1])
    return int(start.group(1)) if start else 0


def _people(rng: np.random.Generator, rows: int, ids: pd.Series | None) -> People:
    if ids is not None:
        return _people_from_ids(rng, rows, ids)
    codes, first_days = _counties()
    chosen = rng.integers(0, len(codes), rows)
    county = codes[chosen]
    male = rng.random(rows) < 0.5
    birth = _uniform_days(rng, first_days[chosen], LAST_BIRTH)
    prefix = county * 10**8 + _ymd(birth)
    # sequence: odd for men, even for women (GB 11643)
    key = _distinct(prefix, 1000, lambda at: 2 * rng.integers(1, 500, len(at)) - male[at])
    return People(county=county, male=male, birth=birth, key=key)


def _people_from_ids(rng: np.random.Generator, rows: int, ids: pd.Series) -> People:
    pool = ids.drop_duplicates().to_numpy(dtype=str)
    if rows > len(pool):
        raise ValueError(f"asked for {rows} rows but ids holds only {len(pool)} distinct numbers")
    key = pd.Series(pool[rng.choice(len(pool), rows, replace=False)]).str.slice(0, 17)
    key = key.astype(np.int64).to_numpy()
    birth = _from_ymd(key // 1000 % 10**8)
    return People(county=key // 10**11, male=key % 2 == 1, birth=birth, key=key)


def _names(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """A zh_CN name per person, a function of the ID so each person keeps one name."""
    surnames, cumulative = _surnames()
    h = _mix(people.key)
    last = np.searchsorted(cumulative, (h >> np.uint64(11)) / 2.0**53, side="right")
    given = []
    for salt in (1, 2):
        h = _mix(h ^ np.uint64(salt))
        male = (h % np.uint64(len(ZhPerson.first_names_male))).astype(np.int64)
        female = (h % np.uint64(len(ZhPerson.first_names_female))).astype(np.int64)
        index = np.where(people.male, male, len(ZhPerson.first_names_male) + female)
        given.append(_pick([*ZhPerson.first_names_male, *ZhPerson.first_names_female], index))
    # about three in four single-character given names get a second character
    second = pc.and_(pc.equal(pc.utf8_length(given[0]), 1), pa.array(h >> np.uint64(62) > 0))
    tail = pc.if_else(second, pc.utf8_slice_codeunits(given[1], 0, 1), "")
    return _join(_pick(surnames, last), given[0], tail)


@cache
def _surnames() -> tuple[list[str], np.ndarray]:
    """Faker's zh_CN surnames and their cumulative share (weights where Faker has them)."""
    names = ZhPerson.last_names
    weights = np.array(list(names.values()) if isinstance(names, Mapping) else [1.0] * len(names))
    cumulative = np.cumsum(weights) / weights.sum()
    cumulative[-1] = 1.0
    return list(names), cumulative


def _ric(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """18-character resident ID numbers: the 17-digit key plus the GB 11643 check."""
    digits = np.hstack([_digits(people.key // 10**9, 8), _digits(people.key % 10**9, 9)])
    check = cn_ric.CHECK_CHARS[(digits.astype(np.int64) @ cn_ric.WEIGHTS) % 11]
    return _ascii(np.hstack([digits + ord("0"), check[:, None]]))


# --- field makers ------------------------------------------------------------------------


def _maker(spec: FieldSpec) -> Maker:
    """How to draw a field: by format, then by name, code list, type; else a placeholder."""
    if spec.format is not None:
        return FORMAT_MAKERS[spec.format]
    if spec.name in NAME_MAKERS:
        return NAME_MAKERS[spec.name]
    if spec.values:
        return _codes
    return TYPE_MAKERS.get(spec.type, _placeholder)


def _uscc(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """'91' + county + organization code ('MA' + 6 chars + GB 11714 check) + GB 32100 check."""
    tails = 31**6
    key = _distinct(people.county, tails, lambda at: rng.integers(0, tails, len(at)))
    body = (key % tails)[:, None] // 31 ** np.arange(5, -1, -1) % 31
    n = len(people)
    index = np.hstack([
        np.tile([9, 1], (n, 1)), _digits(people.county, 6),
        np.tile([uscc.ALPHABET.index("M"), uscc.ALPHABET.index("A")], (n, 1)), body,
    ]).astype(np.int64)
    org = ORG_VALUES[index[:, 8:]] @ ORG_WEIGHTS
    org_check = (11 - org % 11) % 11
    org_index = np.where(org_check == 10, uscc.ALPHABET.index("X"), org_check)
    index = np.hstack([index, org_index[:, None]])
    check = (31 - (index @ uscc.WEIGHTS) % 31) % 31
    alphabet = np.frombuffer(uscc.ALPHABET.encode(), dtype=np.uint8)
    return _ascii(alphabet[np.hstack([index, check[:, None]])])


def _county(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _text(people.county)


def _mobile(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    prefix = rng.choice(np.array(MOBILE_PREFIXES, dtype=np.int64), len(people))
    return _text(prefix * 10**8 + rng.integers(0, 10**8, len(people)))


def _landline(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    area = _lookup(people.county // 100 % 100, lambda prefecture: AREA_CODES[prefecture])
    return _join(area, "-", _text(rng.integers(2 * 10**6, 10**7, len(people))))


def _postcode(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _join("0", _text(rng.integers(30000, 49000, len(people))))


def _sex(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _pick(("2", "1"), people.male.astype(np.int64))


def _birth_date(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return pa.array(people.birth).cast(pa.string())


def _address(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """'山西省太原市小店区迎泽大街12号'."""
    n = len(people)
    prefecture, county = _division_names(people.county // 100 * 100), _division_names(people.county)
    number = _text(rng.integers(1, 400, n))
    return _join("山西省", prefecture, county, _choice(STREETS, rng, n), number, "号")


def _division_names(codes: np.ndarray) -> pa.Array:
    return _lookup(codes, lambda code: county_name(str(code)) or "")


def _enterprise_name(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """'山西' or the prefecture or the county, a brand, an industry, '有限公司'."""
    n = len(people)
    prefecture = _division_names(people.county // 100 * 100)
    county = _division_names(people.county)
    level = pa.array(rng.integers(0, 3, n))
    region = pc.if_else(pc.equal(level, 0), "山西",
                        pc.if_else(pc.equal(level, 1), prefecture, county))
    return _join(region, _choice(BRANDS, rng, n), _choice(INDUSTRIES, rng, n), "有限公司")


def _site_code(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    codes = _distinct(np.zeros(len(people), dtype=np.int64), 10**8,
                      lambda at: rng.integers(0, 10**8, len(at)))
    return _join("JZ", pc.utf8_lpad(_text(codes), 8, "0"))


def _site_name(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    county = _division_names(people.county)
    subdistrict = _choice(SUBDISTRICTS, rng, len(people))
    return _join(county, subdistrict, "街道社区卫生服务中心预防接种门诊")


def _service_hours(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _choice(SERVICE_HOURS, rng, len(people))


def _email(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    n = len(people)
    number = _text(rng.integers(1, 10000, n))
    domain = _choice(MAIL_DOMAINS, rng, n)
    return _join(_choice(SYLLABLES, rng, n), _choice(SYLLABLES, rng, n), number, "@", domain)


def _ethnicity(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _pick(ETHNICITIES, rng.choice(len(ETHNICITIES), len(people), p=ETHNICITY_SHARES))


def _codes(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _choice(list(spec.values or ()), rng, len(people))


def _integer(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    low = int(np.ceil(spec.minimum)) if spec.minimum is not None else 0
    high = int(np.floor(spec.maximum)) if spec.maximum is not None else low + 100
    return _text(rng.integers(low, high + 1, len(people)))


def _decimal(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """Two decimals, within the bounds (an open top is 10,000 above the bottom)."""
    low = int(np.ceil(spec.minimum * 100)) if spec.minimum is not None else 0
    high = int(np.floor(spec.maximum * 100)) if spec.maximum is not None else low + 10**6
    cents = rng.integers(low, high + 1, len(people))
    sign = _pick(("", "-"), (cents < 0).astype(np.int64))
    cents = np.abs(cents)
    return _join(sign, _text(cents // 100), ".", pc.utf8_lpad(_text(cents % 100), 2, "0"))


def _date(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    """An event after 1990 and after the person's 16th birthday; '*_month' on the 1st."""
    days = _uniform_days(rng, np.maximum(people.birth + ADULT_DAYS, EVENT_START), TODAY)
    if spec.name.endswith("_month"):
        days = days.astype("datetime64[M]").astype("datetime64[D]")
    return pa.array(days).cast(pa.string())


def _placeholder(spec: FieldSpec, people: People, rng: np.random.Generator) -> pa.Array:
    return _join("示例", _text(rng.integers(1000, 10000, len(people))))


FORMAT_MAKERS: dict[str, Maker] = {
    "cn_ric": _ric, "uscc": _uscc, "gb2260_shanxi": _county,
    "mobile": _mobile, "landline": _landline, "postcode": _postcode,
}
NAME_MAKERS: dict[str, Maker] = {
    "sex": _sex, "birth_date": _birth_date, "name": _names,
    "legal_representative": _names, "address": _address,
    "enterprise_name": _enterprise_name, "site_code": _site_code, "site_name": _site_name,
    "service_hours": _service_hours, "email": _email, "ethnicity": _ethnicity,
}
TYPE_MAKERS: dict[str, Maker] = {"integer": _integer, "decimal": _decimal, "date": _date}


# --- faults and serialization ------------------------------------------------------------


def _checked_faults(faults: Collection[str], header: str) -> frozenset[str]:
    chosen = frozenset(faults)
    if unknown := sorted(chosen - set(FAULTS)):
        raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
    if "xlsx" in chosen and chosen & {"gb18030", "ragged_rows"}:
        raise ValueError("gb18030 and ragged_rows apply to CSV, not to xlsx")
    if header not in ("title", "name"):
        raise ValueError(f"header must be 'title' or 'name', not {header!r}")
    return chosen


def _few(rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    """About 1% of the candidates (at least one, if any), in order."""
    count = min(len(candidates), max(1, len(candidates) // 100))
    return np.sort(rng.choice(candidates, count, replace=False))


def _corrupt_checks(contract: Contract, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Shift the check character of a few ID numbers or credit codes to a wrong one."""
    name = _checked_column(contract)
    alphabet = CHECK_ALPHABETS[contract.by_name[name].format or ""]
    values = frame[name]
    rows = _few(rng, np.flatnonzero(values.str.len().to_numpy() == 18))
    wrong = [v[:-1] + alphabet[(alphabet.index(v[-1]) + 1) % len(alphabet)]
             for v in values.iloc[rows]]
    out = frame.copy()
    out.iloc[rows, out.columns.get_loc(name)] = wrong
    return out


def _checked_column(contract: Contract) -> str:
    """The subject key if it carries a check character, else the first field that does."""
    names = [contract.subject_key] if contract.subject_key else []
    names += [f.name for f in contract.fields]
    for name in names:
        if contract.by_name[name].format in CHECK_ALPHABETS:
            return name
    raise ValueError(f"{contract.id} has no cn_ric or uscc field to corrupt")


def _contradict(contract: Contract, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Make a few records contradict their own identifier (the contract's ``checks``): each
    picked row gets one compared field changed, the parts taken in turn."""
    parts = [(part, name) for check in contract.checks for part, name in check.parts]
    if not parts:
        raise ValueError(f"{contract.id} declares no cross-field check to contradict")
    filled = np.logical_and.reduce([(frame[name] != "").to_numpy() for _, name in parts])
    out = frame.copy()
    for turn, row in enumerate(_few(rng, np.flatnonzero(filled))):
        part, name = parts[turn % len(parts)]
        out.iloc[row, out.columns.get_loc(name)] = _other_value(part, frame[name].iloc[row])
    return out


def _other_value(part: str, value: str) -> str:
    """A valid value of the same kind that differs from ``value``."""
    if part == "sex":
        return "2" if value == "1" else "1"
    if part == "birth_date":
        return str(np.datetime64(value) + 1)
    codes = _counties()[0]
    return str(codes[(np.searchsorted(codes, int(value)) + 1) % len(codes)])


def _with_remarks(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add the undeclared '备注' column, filled in about half the rows."""
    n = len(frame)
    remarks = _join(_choice(REMARKS, rng, n), f"（{UNDECLARED_MARKER}）")
    remarks = pc.if_else(pa.array(rng.random(n) < 0.5), remarks, "")
    return frame.assign(**{UNDECLARED_COLUMN: pd.array(remarks, dtype="str")})


def _with_duplicates(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    repeats = frame.iloc[_few(rng, np.arange(len(frame)))]
    return pd.concat([frame, repeats], ignore_index=True)


def _csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with minimal quoting; pyarrow writes it fast when no value needs quotes."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(frame.columns)
    body = io.BytesIO()
    options = pcsv.WriteOptions(include_header=False, quoting_style="none")
    try:
        pcsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), body, options)
    except pa.ArrowInvalid:  # some value holds a comma, quote or line break
        return frame.to_csv(index=False, lineterminator="\n").encode()
    return header.getvalue().encode() + body.getvalue()


def _ragged(text: str, rng: np.random.Generator) -> str:
    """Give a few data lines one field too many (',extra') or, every other one, one too few."""
    lines = text.split("\n")  # generated values hold no line breaks
    for turn, at in enumerate(_few(rng, np.arange(1, len(lines) - 1))):
        fields = next(csv.reader([lines[at]]))
        fields = [*fields, "extra"] if turn % 2 == 0 else fields[:-1]
        line = io.StringIO()
        csv.writer(line, lineterminator="").writerow(fields)
        lines[at] = line.getvalue()
    return "\n".join(lines)


_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*")
_FIXED_TIME = (2026, 1, 1, 0, 0, 0)


def _xlsx(frame: pd.DataFrame) -> bytes:
    """One sheet: the header row, then every row as text cells (empty values left blank)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Sheet1")
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append([value or None for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return _stable_zip(buffer.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """Re-pack with fixed entry times and document dates, so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                content = _CORE_DATES.sub(rb"\g<1>2026-01-01T00:00:00Z", content)
            target.writestr(zipfile.ZipInfo(info.filename, _FIXED_TIME), content,
                            zipfile.ZIP_DEFLATED)
    return out.getvalue()


def consent_extract(ids: Sequence[str], dataset_id: str, field: str, decisions: Sequence[str],
                    decided_on: str, channel: str = "counter") -> bytes:
    """A consent extract (同意记录) as a department drops it: one decision per ID number."""
    frame = pd.DataFrame({
        "公民身份号码": list(ids), "数据集": dataset_id, "数据项": field,
        "决定": list(decisions), "决定日期": decided_on, "渠道": channel,
    })
    return frame.to_csv(index=False).encode("utf-8")
