"""Display masks (docs/regulation.md#masking): keep just enough, never the whole value."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from jinshu.vocab import mask
from jinshu.vocab.mask import MASKS


def masked(kind: str, *values: str | None) -> list:
    return mask.apply(kind, pd.Series(list(values), dtype="str")).tolist()


@pytest.mark.parametrize(("kind", "value", "expected"), [
    pytest.param("name", "欧阳娜娜", "欧***", id="name-four-chars"),
    pytest.param("name", "李明", "李*", id="name-two-chars"),
    pytest.param("name", "张三丰", "张**", id="name-three-chars"),
    pytest.param("cn_ric", "14010520010815068X", "1" + "*" * 16 + "X", id="id-first1-check"),
    pytest.param("cn_ric", "140105199803071232", "1" + "*" * 16 + "2", id="id-digits"),
    pytest.param("cn_ric", "140105980307123", "***", id="id-15-digits-ends-with-sex-digit"),
    pytest.param("mobile", "13812345678", "138****5678", id="mobile"),
    pytest.param("bank_card", "6222021234567890123", "6222" + "*" * 11 + "0123", id="bank-card-19"),
    pytest.param("bank_card", "6222021234567890", "6222********7890", id="bank-card-16"),
    pytest.param("address", "山西省太原市小店区迎泽大街12号", "山西省太原市小店区***", id="address-district"),
    pytest.param("address", "山西省吕梁市兴县府西街189号", "山西省吕梁市兴县***", id="address-county"),
    pytest.param("address", "呼和浩特市土默特左旗察素齐镇", "呼和浩特市土默特左旗***", id="address-banner"),
    pytest.param("address", "山西省忻州市原平市西大街107号", "山西省忻州市原平市***",
                 id="address-county-city"),
    pytest.param("email", "li.ming@example.cn", "l***@example.cn", id="email"),
    pytest.param("email", "x@163.com", "x***@163.com", id="email-one-char-local"),
    pytest.param("date_year", "1998-03-07", "1998", id="date-year"),
    pytest.param("date_month", "1998-03-07", "1998-03", id="date-month"),
    pytest.param("generic", "汾阳市", "***", id="generic"),
    pytest.param("age_band", "37", "30-39", id="age-band"),
    pytest.param("age_band", "9", "0-9", id="age-band-child"),
    pytest.param("age_band", "104", "100+", id="age-band-top"),
    pytest.param("age_band", "三十", "***", id="age-not-a-number"),
])
def test_mask_examples(kind, value, expected):
    assert masked(kind, value) == [expected]


@pytest.mark.parametrize("kind", sorted(MASKS))
def test_missing_stays_missing(kind):
    out = masked(kind, None, "李明", None)
    assert pd.isna(out[0]) and pd.isna(out[2])
    assert isinstance(out[1], str)


@pytest.mark.parametrize("kind", sorted(MASKS))
def test_empty_series(kind):
    assert masked(kind) == []


@pytest.mark.parametrize(("kind", "value"), [
    pytest.param("name", "李", id="name-1-char"),
    pytest.param("cn_ric", "14", id="id-2-chars"),
    pytest.param("cn_ric", "140", id="id-3-chars"),
    pytest.param("mobile", "13812", id="mobile-5-chars"),
    pytest.param("mobile", "1381234", id="mobile-7-chars"),
    pytest.param("bank_card", "62220212", id="card-8-chars"),
    pytest.param("email", "liming", id="email-without-at"),
    pytest.param("email", "李明", id="email-without-at-chinese"),
])
def test_short_values_are_never_shown_in_the_clear(kind, value):
    [out] = masked(kind, value)
    assert value not in out
    assert not set(value) & set(out)


@pytest.mark.parametrize("kind", ["name", "cn_ric", "mobile", "bank_card", "email"])
def test_masks_hide_most_of_realistic_values(kind):
    value = {"name": "欧阳娜娜", "cn_ric": "140105199803071232", "mobile": "13812345678",
             "bank_card": "6222021234567890123", "email": "li.ming@example.cn"}[kind]
    [out] = masked(kind, value)
    assert out != value and "*" in out
    hidden = sum(1 for a, b in zip(value, out, strict=False) if a != b)
    assert hidden >= len(value) // 3


@pytest.mark.parametrize("value", ["1", "男"])
def test_generic_mask_hides_one_char_values(value):
    [out] = masked("generic", value)
    assert value not in out


def test_address_without_district_keeps_only_the_city():
    assert masked("address", "太原市并州南路锦绣小区3号楼") == ["太原市***"]


@pytest.mark.parametrize("kind", sorted(mask.MASKS))
def test_a_column_with_no_values_masks_to_no_values(kind):
    """A column every subject withheld (all missing, even typeless) stays all missing."""
    import pyarrow as pa

    empty = pd.Series(pd.array([None, None], dtype=pd.ArrowDtype(pa.null())))
    out = mask.apply(kind, empty)
    assert out.isna().all() and str(out.dtype) == "str"


@pytest.mark.parametrize("dtype", [pd.ArrowDtype(pa.string()), pd.ArrowDtype(pa.large_string()),
                                   "str", object])
def test_text_from_any_string_column_masks_alike_and_keeps_missing(dtype):
    """Columns read from the store come Arrow-backed: the same masks, the same gaps."""
    values = pd.Series(["13812345678", None, "13912345678"], dtype=dtype)
    assert mask.apply("mobile", values).tolist()[::2] == ["138****5678", "139****5678"]
    assert mask.apply("mobile", values).isna().tolist() == [False, True, False]


def test_dates_read_from_the_store_mask_to_their_year():
    values = pd.Series(pd.array([date(1998, 3, 7), None], dtype=pd.ArrowDtype(pa.date32())))
    assert mask.as_text(values).tolist()[0] == "1998-03-07"
    assert mask.apply("date_year", values).isna().tolist() == [False, True]
    assert mask.apply("date_year", values)[0] == "1998"


def test_masked_id_number_does_not_tell_the_sex():
    """The 17th digit is odd for men: a mask that shows it undoes a masked ``sex`` field."""
    from jinshu.catalog import load_catalog
    from jinshu.dev.generate import generate_frame
    from jinshu.settings import DEFAULT_CATALOG_DIR

    frame = generate_frame(load_catalog(DEFAULT_CATALOG_DIR)["household_registration"], 400)
    shown = mask.apply("cn_ric", frame["id_number"])
    assert (shown.str.slice(16, 17) == "*").all()
    # every pattern of visible characters is shared by men and women alike
    sexes = frame.groupby(shown.str.replace("*", "", regex=False))["sex"].nunique()
    assert (sexes == 2).all(), sexes[sexes < 2]
