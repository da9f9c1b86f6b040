"""Conforming an extract: headers to field names, values cleaned, undeclared columns reported."""

from __future__ import annotations

import pandas as pd
import pytest

from jinshu.catalog import load_catalog
from jinshu.collect.conform import AmbiguousColumns, MissingColumns, ScopeViolation, clean_values, conform
from jinshu.collect.read import ROW
from jinshu.settings import DEFAULT_CATALOG_DIR

CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
HOUSEHOLD = CATALOG["household_registration"]
ID = "140105199803071232"
REQUIRED = {"公民身份号码": ID, "姓名": "张三", "性别": "1", "出生日期": "1998-03-07",
            "户籍地行政区划代码": "140105"}


def extract(columns: dict[str, list[str]]) -> pd.DataFrame:
    """A frame as read.py gives it: raw headers, str values, ``_row`` from 2."""
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({h: pd.Series(v, dtype="str") for h, v in columns.items()})
    frame[ROW] = range(2, n + 2)
    return frame


def one_row(**headers: str) -> pd.DataFrame:
    return extract({h: [v] for h, v in headers.items()})


@pytest.mark.parametrize("id_header", [
    pytest.param("公民身份号码", id="title"),
    pytest.param("身份证号", id="alias"),
    pytest.param("sfzh", id="pinyin-alias"),
    pytest.param("id_number", id="name"),
    pytest.param("ID_Number", id="name-mixed-case"),
    pytest.param("idnumber", id="name-without-underscore"),
    pytest.param(" 公民身份号码 ", id="title-padded"),
    pytest.param("公民\u3000身份号码", id="title-ideographic-space"),
    pytest.param("ＳＦＺＨ", id="full-width-alias"),
])
def test_header_maps_to_field(id_header):
    headers = {k: v for k, v in REQUIRED.items() if k != "公民身份号码"}
    frame, violations = conform(one_row(**{id_header: ID}, **headers), HOUSEHOLD)
    assert violations == []
    assert frame["id_number"].tolist() == [ID]


def test_output_has_contract_fields_in_order_then_row():
    frame, _ = conform(extract({"出生日期": ["1998-03-07", "2001-08-15"], "姓名": ["张三", "李四"],
                                "公民身份号码": [ID, ID], "性别": ["1", "2"],
                                "户籍地行政区划代码": ["140105", "140106"]}), HOUSEHOLD)
    assert list(frame.columns) == [*HOUSEHOLD.field_names, ROW]
    assert frame[ROW].tolist() == [2, 3]
    assert frame["name"].tolist() == ["张三", "李四"]
    assert frame["county_code"].tolist() == ["140105", "140106"]


@pytest.mark.parametrize(("raw", "clean"), [
    pytest.param("１４０１０５１９９８０３０７１２３２", ID, id="full-width-digits"),
    pytest.param("１４０１０５２００１０８１５０６８ｘ", "14010520010815068x", id="full-width-lower-x"),
    pytest.param("ＡＢＣ－１２３", "ABC-123", id="full-width-letters-dash"),
    pytest.param("\u3000张三\u3000", "张三", id="ideographic-space-trimmed"),
    pytest.param("  张 三  ", "张 三", id="inner-space-kept"),
    pytest.param("\t李四\n", "李四", id="tab-newline-trimmed"),
    pytest.param("（备注）", "(备注)", id="full-width-parentheses"),
])
def test_clean_values_folds_full_width_and_trims(raw, clean):
    assert clean_values(pd.Series([raw], dtype="str")).tolist() == [clean]


@pytest.mark.parametrize("blank", ["", " ", "\u3000", " \u3000\t"])
def test_blank_values_become_missing(blank):
    out = clean_values(pd.Series([blank, "x"], dtype="str"))
    assert pd.isna(out[0])
    assert out[1] == "x"


def test_conform_cleans_every_declared_column():
    frame, _ = conform(one_row(**{**REQUIRED, "公民身份号码": "　１４０１０５１９９８０３０７１２３２ ",
                                  "民族": "  ", "户籍地址": "山西省太原市小店区１２号"}), HOUSEHOLD)
    assert frame["id_number"].tolist() == [ID]
    assert pd.isna(frame["ethnicity"][0])
    assert frame["address"].tolist() == ["山西省太原市小店区12号"]


def test_undeclared_column_is_counted_and_dropped():
    frame = extract({**{k: [v] * 4 for k, v in REQUIRED.items()},
                     "备注": ["已电话核实", "", "  ", "待补充"], "宗教信仰": ["", "", "", ""]})
    out, violations = conform(frame, HOUSEHOLD)
    assert violations == [ScopeViolation("备注", 2, 5), ScopeViolation("宗教信仰", 0, 6)]
    assert "备注" not in out.columns and "宗教信仰" not in out.columns
    kept = out.drop(columns=ROW).astype("str").to_numpy().ravel().tolist()
    assert "已电话核实" not in kept and "待补充" not in kept


def test_missing_required_column_is_named():
    headers = {k: v for k, v in REQUIRED.items() if k not in ("姓名", "出生日期")}
    with pytest.raises(MissingColumns) as caught:
        conform(one_row(**headers), HOUSEHOLD)
    assert caught.value.missing == ["name", "birth_date"]
    assert "name" in str(caught.value) and "birth_date" in str(caught.value)


def test_row_column_alone_is_not_enough():
    with pytest.raises(MissingColumns) as caught:
        conform(extract({"备注": ["x"]}), HOUSEHOLD)
    assert caught.value.missing == [f.name for f in HOUSEHOLD.fields if f.required]


@pytest.mark.parametrize(("first", "second"), [
    pytest.param("公民身份号码", "身份证号", id="title-and-alias"),
    pytest.param("身份证号", "sfzh", id="two-aliases"),
    pytest.param("id_number", "ID NUMBER", id="name-twice-folded"),
])
def test_two_headers_for_one_field_are_ambiguous(first, second):
    frame = one_row(**{k: v for k, v in REQUIRED.items() if k != "公民身份号码"})
    frame.insert(0, first, ID)
    frame.insert(1, second, ID)
    with pytest.raises(AmbiguousColumns) as caught:
        conform(frame, HOUSEHOLD)
    message = str(caught.value)
    assert "id_number" in message and first in message and second in message


def test_missing_optional_columns_are_all_missing():
    frame, violations = conform(extract({k: [v, v] for k, v in REQUIRED.items()}), HOUSEHOLD)
    assert violations == []
    for name in ("ethnicity", "address", "registered_on"):
        assert frame[name].isna().all()
        assert frame[name].dtype == "str"


def test_repeated_undeclared_header_is_a_scope_violation():
    frame = one_row(**REQUIRED)
    frame.insert(0, "备注", "甲", allow_duplicates=True)
    frame.insert(1, "备注", "乙", allow_duplicates=True)
    _, violations = conform(frame, HOUSEHOLD)
    assert {v.header for v in violations} == {"备注"}


# --- headers come from outside: never echoed whole --------------------------------------------

RECORD = [ID, "张三", "1", "1998-03-07", "汉族", "140105", "山西省太原市小店区迎泽大街12号", "2010-05-01"]


def headed_by(headers: list[str], *rows: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([list(r) for r in rows] or [[""] * len(headers)], columns=headers,
                         dtype="str")
    frame[ROW] = range(2, len(frame) + 2)
    return frame


def test_file_without_its_header_row_is_told_to_add_it_and_no_value_is_echoed():
    second = ["14010520010815068X", "李娜", "2", "2001-08-15", "汉族", "140105", "太原市长风街2号", ""]
    with pytest.raises(MissingColumns) as caught:
        conform(headed_by(RECORD, second), HOUSEHOLD)
    message = str(caught.value)
    assert message.startswith("the first row looks like data, not a header: add the header row")
    assert "id_number (公民身份号码)" in message and "county_code (户籍地行政区划代码)" in message
    assert caught.value.header_is_data
    for value in RECORD:
        assert len(value) == 1 or value not in message
    assert "140105" not in message and "1****" not in message


@pytest.mark.parametrize("header", [
    pytest.param("x" * 65536, id="64-KiB-cell"),
    pytest.param("13812345678", id="mobile"),
    pytest.param("２０２４年３月５日", id="full-width-date"),
    pytest.param("650.50", id="amount"),
])
def test_a_header_row_that_looks_like_data_is_called_data(header):
    headers = [h for h in REQUIRED if h != "姓名"] + [header]
    with pytest.raises(MissingColumns) as caught:
        conform(headed_by(headers), HOUSEHOLD)
    message = str(caught.value)
    assert "looks like data" in message and "name (姓名)" in message
    assert header not in message and len(message) < 400


def test_a_real_header_row_missing_a_column_is_not_called_data():
    with pytest.raises(MissingColumns) as caught:
        conform(headed_by([h for h in REQUIRED if h != "姓名"] + ["联系人", "备注"]), HOUSEHOLD)
    assert not caught.value.header_is_data
    assert str(caught.value).startswith("required column(s) name (姓名) not found")
    assert "联系人" not in str(caught.value)


@pytest.mark.parametrize(("header", "stored"), [
    pytest.param("备注", "备注", id="plain-kept"),
    pytest.param("张三_140105199803071232", "张三_1****************2", id="id-masked"),
    pytest.param("手机１３８１２３４５６７８", "手机138****5678", id="full-width-mobile-masked"),
    pytest.param("备注\n[INFO] ok\x1b[0m", "备注\\n[INFO] ok\\x1b[0m", id="controls-escaped"),
])
def test_undeclared_header_is_kept_only_masked_escaped_and_short(header, stored):
    _, [violation] = conform(headed_by([*REQUIRED, header], [*REQUIRED.values(), "x"]), HOUSEHOLD)
    assert violation.header == stored and violation.non_empty_values == 1


def test_a_very_long_undeclared_header_is_cut():
    _, [violation] = conform(headed_by([*REQUIRED, "备" * 65536], [*REQUIRED.values(), "x"]),
                             HOUSEHOLD)
    assert len(violation.header) <= 64 and "…" in violation.header


def test_ambiguous_headers_are_named_by_field_and_title_and_shown_short():
    long_alias = "身份证号" + " " * 5000
    frame = headed_by(["身份证号", long_alias, *REQUIRED])
    with pytest.raises(AmbiguousColumns) as caught:
        conform(frame, HOUSEHOLD)
    assert "id_number (公民身份号码)" in str(caught.value) and len(str(caught.value)) < 300
