"""Reading extracts: encodings, CSV quirks, XLSX and JSON, and files that cannot be read."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from jinshu.collect.read import ROW, BadRecord, UnreadableFile, read_extract

CSV_ZH = "姓名,身份证号\n张三,140105199803071232\n李四,14010520010815068X\n"


def records(name: str, data: bytes) -> list[dict]:
    return read_extract(name, data).frame.to_dict("records")


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "encoding"), [
    pytest.param(CSV_ZH.encode("utf-8"), "utf-8", id="utf-8"),
    pytest.param(b"\xef\xbb\xbf" + CSV_ZH.encode("utf-8"), "utf-8-sig", id="utf-8-bom"),
    pytest.param(CSV_ZH.encode("gb18030"), "gb18030", id="gb18030"),
])
def test_encodings_are_detected_and_chinese_decoded(data, encoding):
    extract = read_extract("people.csv", data)
    assert extract.encoding == encoding
    assert list(extract.frame.columns) == ["姓名", "身份证号", ROW]  # no BOM left in the first header
    assert extract.frame["姓名"].tolist() == ["张三", "李四"]
    assert extract.frame["身份证号"].tolist() == ["140105199803071232", "14010520010815068X"]
    assert extract.frame[ROW].tolist() == [2, 3]
    assert extract.bad_records == []


def test_gb18030_is_not_mistaken_for_utf8():
    data = CSV_ZH.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the case is a real fallback, not UTF-8 in disguise
    assert records("people.csv", data)[1]["姓名"] == "李四"


@pytest.mark.parametrize(("data", "offset"), [
    pytest.param(b"a,b\n1,\xff\n", 6, id="0xff"),
    pytest.param(b"a,b\n1,2\n3,\x80\n", 10, id="lone-0x80"),
])
def test_undecodable_bytes_name_the_offset(data, offset):
    with pytest.raises(UnreadableFile) as caught:
        read_extract("x.csv", data)
    assert caught.value.rule == "encoding"
    assert f"offset {offset}" in str(caught.value)
    assert caught.value.fix


def test_undecodable_offset_counts_the_bom():
    with pytest.raises(UnreadableFile) as caught:
        read_extract("x.csv", b"\xef\xbb\xbfa,b\n1,\xff\n")
    assert "offset 9" in str(caught.value)


# --- files that are not extracts -------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "rule"), [
    pytest.param("x.csv", b"", "empty", id="empty"),
    pytest.param("x.csv", b"  \n\t\r\n ", "empty", id="whitespace-only"),
    pytest.param("x.json", b"", "empty", id="empty-json"),
    pytest.param("x.csv", b"\xef\xbb\xbf", "header", id="bom-only"),
    pytest.param("x.csv", b",,\n1,2,3\n", "header", id="blank-header"),
    pytest.param("x.pdf", b"%PDF-1.4", "file_type", id="pdf"),
    pytest.param("extract", b"a\n1\n", "file_type", id="no-extension"),
    pytest.param("x.json", b'{"records": [', "json", id="invalid-json"),
    pytest.param("x.json", b"[1, 2]", "json", id="json-array-of-numbers"),
    pytest.param("x.json", b'{"rows": [{"a": 1}]}', "json", id="json-object-without-records"),
])
def test_unreadable_files(name, data, rule):
    with pytest.raises(UnreadableFile) as caught:
        read_extract(name, data)
    assert caught.value.rule == rule
    assert caught.value.detail and caught.value.fix


def test_invalid_json_names_line_and_column():
    with pytest.raises(UnreadableFile) as caught:
        read_extract("x.json", b'[\n  {"a": 1},\n  {"a": }\n]')
    assert "line 3, column 9" in caught.value.detail


def test_extension_is_case_insensitive():
    assert records("X.CSV", b"a\n1\n") == [{"a": "1", ROW: 2}]
    assert records("x.txt", b"a\n1\n") == [{"a": "1", ROW: 2}]


# --- CSV shape ---------------------------------------------------------------------------------


def test_header_only_csv_has_no_rows():
    extract = read_extract("x.csv", b"a,b\n")
    assert list(extract.frame.columns) == ["a", "b", ROW]
    assert len(extract.frame) == 0
    assert extract.rows_in == 0


def test_header_only_csv_without_newline_has_no_rows():
    extract = read_extract("x.csv", b"a,b")
    assert list(extract.frame.columns) == ["a", "b", ROW]
    assert len(extract.frame) == 0


def test_values_stay_strings_exactly_as_written():
    frame = read_extract("x.csv", b"code,amount,blank\n007,1.50,\n0,1e3, \n").frame
    assert frame.to_dict("records") == [
        {"code": "007", "amount": "1.50", "blank": "", ROW: 2},
        {"code": "0", "amount": "1e3", "blank": " ", ROW: 3},
    ]


def test_crlf_line_endings():
    assert records("x.csv", b"a,b\r\n1,2\r\n3,4\r\n") == [{"a": "1", "b": "2", ROW: 2},
                                                      {"a": "3", "b": "4", ROW: 3}]


def test_ragged_rows_are_set_aside_with_row_number_and_raw_text():
    data = b"a,b\n1,2\n3,4,5\n6,7\n8\n9,10\n"
    extract = read_extract("x.csv", data)
    assert extract.bad_records == [
        BadRecord(row=3, rule="ragged_row", detail="row has 3 fields, the header has 2", raw="3,4,5"),
        BadRecord(row=5, rule="ragged_row", detail="row has 1 fields, the header has 2", raw="8"),
    ]
    assert extract.frame.to_dict("records") == [
        {"a": "1", "b": "2", ROW: 2}, {"a": "6", "b": "7", ROW: 4}, {"a": "9", "b": "10", ROW: 6},
    ]
    assert extract.rows_in == 5


def test_ragged_first_and_last_rows():
    extract = read_extract("x.csv", b"a,b\n1\n2,3\n4,5,6\n")
    assert [(b.row, b.raw) for b in extract.bad_records] == [(2, "1"), (4, "4,5,6")]
    assert extract.frame[ROW].tolist() == [3]


def test_quoted_newline_kept_and_rows_numbered_by_record():
    data = 'a,b\n1,"第一行\n第二行"\n3,"x, ""y"""\n5,6,7\n8,9\n'.encode()
    extract = read_extract("x.csv", data)
    frame = extract.frame
    assert frame["b"].tolist() == ["第一行\n第二行", 'x, "y"', "9"]
    assert frame[ROW].tolist() == [2, 3, 5]
    assert [(b.row, b.raw) for b in extract.bad_records] == [(4, "5,6,7")]


def test_many_rows_keep_their_numbers():
    lines = ["n,v"] + [f"{i},{i * 2}" for i in range(2, 3002)]
    lines[1500] = "bad"  # record number 1501
    frame = read_extract("x.csv", "\n".join(lines).encode()).frame
    assert len(frame) == 2999
    assert (frame["n"].astype(int) == frame[ROW]).all()
    assert 1501 not in frame[ROW].tolist()


# --- XLSX ------------------------------------------------------------------------------------


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_first_sheet_as_strings():
    data = _xlsx([["姓名", "保障人口数", "金额", "备注"],
                  ["张三", 42, 3.5, "已核实"],
                  ["李四", None, 650, None],
                  ["王五"]])
    extract = read_extract("名册.xlsx", data)
    assert extract.encoding == "xlsx"
    assert extract.frame.to_dict("records") == [
        {"姓名": "张三", "保障人口数": "42", "金额": "3.5", "备注": "已核实", ROW: 2},
        {"姓名": "李四", "保障人口数": "", "金额": "650", "备注": "", ROW: 3},
        {"姓名": "王五", "保障人口数": "", "金额": "", "备注": "", ROW: 4},
    ]


def test_xlsx_header_only():
    frame = read_extract("x.xlsx", _xlsx([["a", "b"]])).frame
    assert list(frame.columns) == ["a", "b", ROW]
    assert len(frame) == 0


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda rows: rows, id="array"),
    pytest.param(lambda rows: {"records": rows}, id="records"),
    pytest.param(lambda rows: {"data": rows}, id="data"),
])
def test_json_records(wrap):
    rows = [{"姓名": "张三", "保障人口数": "3"}, {"姓名": "李四", "保障人口数": 4}, {"姓名": "王五"}]
    extract = read_extract("x.json", json.dumps(wrap(rows), ensure_ascii=False).encode())
    assert extract.frame.to_dict("records") == [
        {"姓名": "张三", "保障人口数": "3", ROW: 1},
        {"姓名": "李四", "保障人口数": "4", ROW: 2},
        {"姓名": "王五", "保障人口数": "", ROW: 3},
    ]


def test_json_gb18030():
    extract = read_extract("x.json", '[{"姓名": "张三"}]'.encode("gb18030"))
    assert extract.encoding == "gb18030"
    assert extract.frame["姓名"].tolist() == ["张三"]


def test_json_empty_array_has_no_rows():
    assert len(read_extract("x.json", b"[]").frame) == 0


def test_json_integers_next_to_nulls_stay_as_written():
    frame = read_extract("x.json", b'[{"sex": 1}, {"sex": null}, {}]').frame
    assert frame["sex"].tolist() == ["1", "", ""]
