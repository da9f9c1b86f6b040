"""Identifier formats, held to python-stdnum's answers on the same values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from jinshu.catalog import load_catalog
from jinshu.dev.generate import generate_frame
from jinshu.settings import DEFAULT_CATALOG_DIR
from jinshu.vocab.divisions import address_codes
from jinshu.vocab.formats import REGISTRY, cn_ric, gb2260, landline, mobile, postcode, uscc

CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
RIC_SAMPLES = ["140105199803071232", "14010520010815068X", "11010519491231002X"]
USCC_SAMPLES = ["91140105MA0K1B2C1E", "12140100123456788C"]
RIC_CHARS = "0123456789X"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def s(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def ric_check(first17: str) -> str:
    """stdnum 2.2 wants the full 18 characters and ignores the last one."""
    return stdnum_ric.calc_check_digit(first17 + "0")


def valid(fmt, values: list[str]) -> list[bool]:
    module = REGISTRY[fmt] if isinstance(fmt, str) else fmt
    return module.is_valid(module.normalize(pd.Series(values, dtype="str"))).tolist()


# --- resident ID ---------------------------------------------------------------------------


def _random_rics(rng: np.random.Generator, n: int) -> list[str]:
    """Independent of the generator: any known address code, any real date, random check."""
    codes = sorted(address_codes() - {"810000", "820000", "830000"})
    days = np.datetime64("1920-01-01") + rng.integers(0, 365 * 100, n)
    births = pd.to_datetime(days).strftime("%Y%m%d")
    out = []
    for i in range(n):
        body = f"{codes[rng.integers(len(codes))]}{births[i]}{rng.integers(0, 1000):03d}"
        out.append(body + RIC_CHARS[rng.integers(len(RIC_CHARS))])
    return out


def test_cn_ric_checksum_agrees_with_stdnum_on_2000_numbers():
    rng = np.random.default_rng(20240305)
    generated = generate_frame(CATALOG["household_registration"], 700, seed=3)["id_number"].tolist()
    corrupted = [v[:-1] + RIC_CHARS[(RIC_CHARS.index(v[-1]) + 1 + rng.integers(10)) % 11]
                 for v in generated[:300]]
    random = _random_rics(rng, 1000)
    numbers = generated + corrupted + random
    expected = [ric_check(n[:17]) == n[-1] for n in numbers]
    assert valid(cn_ric, numbers) == expected
    # the sample covers both answers in quantity
    assert 700 < sum(expected) < 1300
    assert all(expected[:len(generated)])
    assert not any(expected[len(generated):len(generated) + len(corrupted)])


def test_cn_ric_accepts_every_number_with_stdnum_check_character():
    rng = np.random.default_rng(7)
    numbers = [n[:17] + ric_check(n[:17]) for n in _random_rics(rng, 300)]
    assert all(valid(cn_ric, numbers))


@pytest.mark.parametrize("number", RIC_SAMPLES)
def test_reference_ric_samples_pass_and_every_one_char_mutation_fails(number):
    assert stdnum_ric.is_valid(number)
    assert valid(cn_ric, [number]) == [True]
    mutations = [number[:i] + c + number[i + 1:] for i in range(18) for c in RIC_CHARS if c != number[i]]
    assert len(mutations) == 18 * 10
    assert not any(valid(cn_ric, mutations))


@pytest.mark.parametrize(("raw", "canonical"), [
    pytest.param("14010520010815068x", "14010520010815068X", id="lower-case-x"),
    pytest.param("140105199803071232", "140105199803071232", id="already-canonical"),
])
def test_cn_ric_normalize_upper_cases_the_check(raw, canonical):
    assert cn_ric.normalize(s(raw)).tolist() == [canonical]
    assert cn_ric.is_valid(cn_ric.normalize(s(raw))).tolist() == [True]


@pytest.mark.parametrize("raw", [
    pytest.param("140105-19980307-1232", id="dashed"),
    pytest.param("140105 19980307 1232", id="spaced"),
    pytest.param("١٤٠١٠٥١٩٩٨٠٣٠٧١٢٣٢", id="arabic-indic-digits"),
    pytest.param("１４０１０５１９９８０３０７１２３２", id="full-width-digits"),
    pytest.param("1401051998\u200b0307\ufeff1232", id="zero-width-characters"),
])
def test_cn_ric_normalize_reads_an_id_written_another_way(raw):
    assert cn_ric.normalize(s(raw)).tolist() == ["140105199803071232"]
    assert valid(cn_ric, [raw]) == [True]


@pytest.mark.parametrize("old", ["140105980307123", "110105491231002", "140105010101001", "142601750612345"])
def test_cn_ric_15_digit_number_is_upgraded(old):
    upgraded = old[:6] + "19" + old[6:]
    expected = upgraded + ric_check(upgraded)
    assert cn_ric.normalize(s(old)).tolist() == [expected]
    assert cn_ric.is_valid(s(expected)).tolist() == [True]


def test_cn_ric_normalize_keeps_missing_and_mixed_forms():
    out = cn_ric.normalize(s("140105980307123", None, "14010520010815068x"))
    assert out[0] == "140105199803071232"
    assert pd.isna(out[1])
    assert out[2] == "14010520010815068X"


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_hk_macau_taiwan_permit_codes_accepted(region):
    number = f"{region}19900307123"
    number += ric_check(number)
    assert not stdnum_ric.is_valid(number)  # stdnum rejects them; we accept them on purpose
    assert valid(cn_ric, [number]) == [True]
    assert valid(cn_ric, [number[:-1] + RIC_CHARS[(RIC_CHARS.index(number[-1]) + 1) % 11]]) == [False]


def test_county_code_not_yet_existing_at_birth_is_accepted():
    number = "140105199003071234"
    assert ric_check(number[:17]) == number[-1]
    assert valid(cn_ric, [number]) == [True]


@pytest.mark.parametrize("birth", [
    pytest.param("19980230", id="feb-30"),
    pytest.param("19981301", id="month-13"),
    pytest.param("19980000", id="day-0"),
    pytest.param("20230229", id="feb-29-non-leap"),
    pytest.param("18991231", id="before-1900"),
])
def test_cn_ric_rejects_impossible_birth_date_even_with_right_checksum(birth):
    body = f"140105{birth}123"
    assert valid(cn_ric, [body + ric_check(body)]) == [False]


def test_cn_ric_accepts_leap_day():
    body = "14010520000229123"
    assert valid(cn_ric, [body + ric_check(body)]) == [True]


@pytest.mark.parametrize("number", [
    pytest.param("99999919980307123", id="unknown-address-code"),
    pytest.param("1401051998030712", id="too-short"),
    pytest.param("1401051998030712321", id="too-long"),
    pytest.param("1401051998030712X2", id="x-not-last"),
    pytest.param("", id="empty"),
])
def test_cn_ric_rejects_bad_shapes(number):
    candidate = number + ric_check(number) if len(number) == 17 and number.isdigit() else number
    assert valid(cn_ric, [candidate]) == [False]


def test_cn_ric_missing_value_is_not_valid():
    assert cn_ric.is_valid(s(None, "140105199803071232")).tolist() == [False, True]


# --- unified social credit code --------------------------------------------------------------


DIGIT_AUTHORITIES = sorted(t for t in uscc.AUTHORITY_TYPES if t.isdigit())  # stdnum wants digits


def _random_uscc(rng: np.random.Generator, n: int) -> list[str]:
    """Shapes stdnum accepts (a GB 32100 authority and type, 6 digits, 10 alphabet chars),
    with a random last char."""
    out = []
    for _ in range(n):
        head = DIGIT_AUTHORITIES[rng.integers(len(DIGIT_AUTHORITIES))]
        head += "".join(str(d) for d in rng.integers(0, 10, 6))
        tail = "".join(USCC_ALPHABET[i] for i in rng.integers(0, 31, 10))
        out.append(head + tail)
    return out


def test_uscc_agrees_with_stdnum_on_valid_and_corrupted_codes():
    rng = np.random.default_rng(32100)
    generated = generate_frame(CATALOG["enterprise_registration"], 500, seed=5)["uscc"].tolist()
    corrupted = []
    for code in generated[:500]:
        at = int(rng.integers(8, 18))
        other = USCC_ALPHABET[(USCC_ALPHABET.index(code[at]) + 1 + rng.integers(30)) % 31]
        corrupted.append(code[:at] + other + code[at + 1:])
    random = _random_uscc(rng, 1000)
    fixed = [c[:17] + stdnum_uscc.calc_check_digit(c) for c in random[:200]]
    codes = generated + corrupted + random + fixed
    expected = [stdnum_uscc.is_valid(c) for c in codes]
    assert valid(uscc, codes) == expected
    assert sum(expected) > 700  # generated + fixed + ~1/31 of random


@pytest.mark.parametrize("code", USCC_SAMPLES)
def test_reference_uscc_samples_pass_and_every_one_char_mutation_fails(code):
    assert stdnum_uscc.is_valid(code)
    assert valid(uscc, [code, code.lower()]) == [True, True]
    mutations = [code[:i] + c + code[i + 1:] for i in range(18) for c in USCC_ALPHABET if c != code[i]]
    assert not any(valid(uscc, mutations))


@pytest.mark.parametrize("head", ["00", "10", "14", "24", "36", "46", "54", "63", "73", "82", "94",
                                  "A2", "B1", "N4", "Y2"])
def test_uscc_rejects_an_unknown_registration_authority_or_entity_type_with_any_check(head):
    body = head + "140105MA0K1B2C1"
    assert head not in uscc.AUTHORITY_TYPES
    assert set(uscc.failures(s(*(body + c for c in USCC_ALPHABET)))) == {"authority"}


@pytest.mark.parametrize("head", sorted(uscc.AUTHORITY_TYPES))
def test_uscc_accepts_every_gb32100_authority_and_entity_type(head):
    body = head + "140105MA0K1B2C1"
    assert valid(uscc, [body + stdnum_uscc.calc_check_digit(body)]) == [True]


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_uscc_rejects_letters_outside_the_alphabet_with_any_check(letter):
    body = "91140105MA0K1B2C" + letter
    candidates = [body + check for check in USCC_ALPHABET] + [USCC_SAMPLES[0][:17] + letter]
    assert not any(valid(uscc, candidates))
    assert not any(valid(uscc, [c.lower() for c in candidates]))


def test_uscc_division_part_must_be_digits():
    body = "91A40105MA0K1B2C1"
    code = body + stdnum_uscc.calc_check_digit(body)
    assert not stdnum_uscc.is_valid(code)
    assert valid(uscc, [code]) == [False]


# --- mobile, landline, postcode, county code -------------------------------------------------


@pytest.mark.parametrize(("raw", "canonical", "ok"), [
    pytest.param("+86 138-0013-8000", "13800138000", True, id="plus86-spaces-dashes"),
    pytest.param("8613800138000", "13800138000", True, id="86-prefix"),
    pytest.param("138 0013 8000", "13800138000", True, id="spaces"),
    pytest.param("19912345678", "19912345678", True, id="199"),
    pytest.param("12800138000", "12800138000", False, id="second-digit-2"),
    pytest.param("1380013800", "1380013800", False, id="ten-digits"),
    pytest.param("138001380001", "138001380001", False, id="twelve-digits"),
    pytest.param("+8612800138000", "12800138000", False, id="plus86-then-bad-number"),
    pytest.param("+86 138001380", "+86138001380", False, id="plus86-too-short-kept"),
    pytest.param("0086 138 0013 8000", "13800138000", True, id="0086-prefix-spaces"),
    pytest.param("008613800138000", "13800138000", True, id="0086-prefix"),
    pytest.param("١٣٨-٠٠١٣-٨٠٠٠", "13800138000", True, id="arabic-indic-digits"),
    pytest.param("138\u200b0013\u200b8000", "13800138000", True, id="zero-width-spaces"),
    pytest.param("138\u00a00013\u30008000", "13800138000", True, id="unicode-spaces"),
])
def test_mobile(raw, canonical, ok):
    normalized = mobile.normalize(s(raw))
    assert normalized.tolist() == [canonical]
    assert mobile.is_valid(normalized).tolist() == [ok]


def test_non_ascii_digits_are_not_valid_numbers():
    assert mobile.is_valid(s("13٨٠٠١٣٨٠٠٠")).tolist() == [False]
    assert postcode.is_valid(s("١٢٣٤٥٦")).tolist() == [False]


@pytest.mark.parametrize(("raw", "ok"), [
    pytest.param("0351-4567890", True, id="taiyuan-dash"),
    pytest.param("03514567890", True, id="no-dash"),
    pytest.param("010-62345678", True, id="beijing-8-digits"),
    pytest.param("(0351)4567890", True, id="parentheses"),
    pytest.param("（0351）4567890", True, id="full-width-parentheses"),
    pytest.param("0351 4567890", True, id="space"),
    pytest.param("0351-1234567", False, id="local-starts-with-1"),
    pytest.param("351-4567890", False, id="no-leading-zero"),
    pytest.param("0351-45678", False, id="too-short"),
    pytest.param("13800138000", False, id="mobile"),
])
def test_landline(raw, ok):
    assert valid(landline, [raw]) == [ok]


@pytest.mark.parametrize(("raw", "ok"), [("030001", True), ("03000", False), ("0300011", False),
                                         ("03000a", False)])
def test_postcode(raw, ok):
    assert valid(postcode, [raw]) == [ok]


@pytest.mark.parametrize(("code", "ok"), [
    pytest.param("140105", True, id="xiaodian-district"),
    pytest.param("141182", True, id="fenyang-city"),
    pytest.param("110105", False, id="beijing-chaoyang"),
    pytest.param("140100", False, id="taiyuan-prefecture-placeholder"),
    pytest.param("140000", False, id="shanxi-province"),
    pytest.param("1401", False, id="four-digits"),
    pytest.param("149999", False, id="unknown"),
])
def test_gb2260_shanxi(code, ok):
    assert valid("gb2260_shanxi", [code]) == [ok]
    assert gb2260.is_valid(s(code)).tolist() == [ok]


@pytest.mark.parametrize("fmt", sorted(REGISTRY))
def test_every_format_handles_empty_and_missing(fmt):
    module = REGISTRY[fmt]
    assert module.is_valid(module.normalize(s())).tolist() == []
    assert module.is_valid(s(None)).tolist() == [False]
    assert module.RULE and module.FIX


def test_cn_ric_non_ascii_digits_are_invalid_not_a_crash():
    assert cn_ric.is_valid(s("١٤٠١٠٥١٩٩٨٠٣٠٧١٢٣٢", "140105199803071232")).tolist() == [False, True]


# --- which part failed: python-stdnum's exceptions as the oracle --------------------------


STDNUM_PARTS = {  # stdnum's exception -> the parts of ours it may correspond to
    "cn_ric": {
        InvalidLength: {"length"}, InvalidFormat: {"characters"}, InvalidChecksum: {"checksum"},
        # stdnum also rejects a county code that did not exist yet at birth; we accept it
        InvalidComponent: {"birth_date", "region", None},
        None: {None},
    },
    "uscc": {  # stdnum wants 8 digits first and knows no authority list
        InvalidLength: {"length"}, InvalidFormat: {"characters", "authority", "region"},
        InvalidChecksum: {"checksum", "authority"}, None: {None, "authority"},
    },
}


def stdnum_error(module, value: str) -> type | None:
    try:
        module.validate(value)
    except ValidationError as error:
        return type(error)
    except KeyError:  # stdnum 2.2's get_birth_place on a prefecture or province code
        return InvalidComponent
    return None


def _damaged(rng: np.random.Generator, values: list[str], alphabet: str) -> list[str]:
    """Each value cut, lengthened, given a foreign character, or one character changed."""
    out = []
    for v in values:
        at = int(rng.integers(len(v)))
        out += [v[:at], v + alphabet[rng.integers(len(alphabet))], v[:at] + "?" + v[at + 1:],
                v[:at] + alphabet[rng.integers(len(alphabet))] + v[at + 1:]]
    return out


def test_cn_ric_failing_part_agrees_with_stdnum_exception():
    rng = np.random.default_rng(11643)
    fixed = [n[:17] + ric_check(n[:17]) for n in _random_rics(rng, 400)]
    dates = [f"{n[:6]}{rng.integers(1890, 2030)}{rng.integers(0, 14):02d}{rng.integers(0, 33):02d}{n[14:17]}"
             for n in fixed[:200]]
    regions = [f"{rng.integers(100000, 1000000)}{n[6:17]}" for n in fixed[:200]]
    numbers = fixed + [b + ric_check(b) for b in dates + regions] + _damaged(rng, fixed, RIC_CHARS)
    parts = cn_ric.failures(s(*numbers)).tolist()
    for number, part in zip(numbers, parts, strict=True):
        part = None if pd.isna(part) else part
        allowed = STDNUM_PARTS["cn_ric"][stdnum_error(stdnum_ric, number)]
        if number[6:10] < "1900":  # stdnum takes any year; we want 1900 or later
            allowed = allowed | {"birth_date"}
        if number[-1:] not in RIC_CHARS:  # stdnum calls a foreign last character a bad checksum
            allowed = allowed | {"characters"}
        assert part in allowed, number
    assert set(parts) - {np.nan} >= set(cn_ric.PARTS)  # every part was exercised


def test_uscc_failing_part_agrees_with_stdnum_exception():
    rng = np.random.default_rng(32100)
    fixed = [c[:17] + stdnum_uscc.calc_check_digit(c) for c in _random_uscc(rng, 400)]
    codes = fixed + _damaged(rng, fixed, USCC_ALPHABET) + _random_uscc(rng, 200)
    parts = uscc.failures(s(*codes)).tolist()
    for code, part in zip(codes, parts, strict=True):
        part = None if pd.isna(part) else part
        if code[:2] in uscc.AUTHORITY_TYPES and not code[:2].isdigit():
            continue  # A, N, Y authorities: stdnum (8 digits first) cannot judge them
        assert part in STDNUM_PARTS["uscc"][stdnum_error(stdnum_uscc, code)], code
        assert (part == "authority") == (len(code) == 18 and code[:2] not in uscc.AUTHORITY_TYPES
                                         and part not in ("length", "characters"))
    assert set(parts) - {np.nan} >= set(uscc.PARTS)


@pytest.mark.parametrize(("fmt", "value", "part"), [
    ("cn_ric", "14010520010815068x", None),
    ("cn_ric", "140105980307123", None),  # the old 15-digit form, upgraded
    ("cn_ric", "1401052001081506", "length"),
    ("cn_ric", "140105200108150#8X", "characters"),
    ("cn_ric", "140105200108150 8X", "length"),  # the space is dropped: 17 left
    ("cn_ric", "140105200108150681", "checksum"),
    ("cn_ric", "140105202302291231", "birth_date"),
    ("cn_ric", "990105199803071230", "region"),
    ("uscc", "91140105ma0k1b2c1e", None),
    ("uscc", "91140105MA0K1B2C1EE", "length"),
    ("uscc", "91140105MA0K1B2C1Z", "characters"),
    ("uscc", "92140105MA0K1B2C1B", None),
    ("uscc", "94140105MA0K1B2C15", "authority"),
    ("uscc", "911A0105MA0K1B2C17", "region"),
    ("uscc", "91140105MA0K1B2C1F", "checksum"),
    ("mobile", "+86 138-0013-8000", None),
    ("mobile", "138001380O0", "characters"),
    ("mobile", "138001380001", "length"),
    ("mobile", "11800138000", "prefix"),
    ("landline", "（0351）4567890", None),
    ("landline", "0351-45678#90", "characters"),
    ("landline", "0351--4567890", "characters"),
    ("landline", "13800138000", "area_code"),
    ("landline", "03514-567890", "area_code"),
    ("landline", "0351-0567890", "local_number"),
    ("landline", "0351-456789012", "local_number"),
    ("postcode", "030001", None),
    ("postcode", "0300011", "length"),
    ("postcode", "０３０００１", "characters"),
    ("gb2260_shanxi", "141182", None),
    ("gb2260_shanxi", "14118", "length"),
    ("gb2260_shanxi", "14118a", "characters"),
    ("gb2260_shanxi", "140000", "region"),
])
def test_failures_name_the_part_that_is_wrong(fmt, value, part):
    module = REGISTRY[fmt]
    [found] = module.failures(module.normalize(s(value))).tolist()
    assert (None if pd.isna(found) else found) == part
    assert part is None or part in module.PARTS


@pytest.mark.parametrize("fmt", sorted(REGISTRY))
def test_failures_keep_the_index_and_missing_fails_length_or_characters(fmt):
    module = REGISTRY[fmt]
    values = pd.Series([None, None], index=[10, 4], dtype="str")
    found = module.failures(values)
    assert found.index.tolist() == [10, 4]
    assert set(found) <= {"length", "characters"}
    assert list(found.cat.categories) == list(module.PARTS)
