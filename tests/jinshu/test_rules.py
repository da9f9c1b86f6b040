"""Row rules from the contract: each bad value names its rule; good values come out canonical."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest

from jinshu.catalog import Contract, load_catalog
from jinshu.collect.conform import conform
from jinshu.collect.read import ROW
from jinshu.collect.rules import VIOLATION_COLUMNS, Checked, check_field, check_rows
from jinshu.settings import DEFAULT_CATALOG_DIR

CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
ID_A, ID_B = "140105199803071232", "14010520010815068X"
PERSON_B = {"id_number": ID_B, "sex": "2", "birth_date": "2001-08-15"}  # what ID_B encodes
GOOD = {
    "household_registration": {
        "id_number": ID_A, "name": "张三", "sex": "1", "birth_date": "1998-03-07", "ethnicity": "汉族",
        "county_code": "140105", "address": "山西省太原市小店区迎泽大街12号", "registered_on": "2010-05-01",
    },
    "minimum_living_allowance": {
        "id_number": ID_A, "name": "张三", "county_code": "140105", "household_size": "3",
        "allowance_yuan": "650.5", "start_month": "2024-01-01", "phone": "13800138000",
    },
    "social_insurance_enrollment": {
        "id_number": ID_A, "name": "张三", "sex": "1", "birth_date": "1998-03-07", "insurance_type": "110",
        "enrolled_on": "2020-07-01", "employer_uscc": "91140105MA0K1B2C1E", "county_code": "140105",
        "phone": "13800138000", "email": "zhangsan@example.cn",
    },
    "enterprise_registration": {
        "uscc": "91140105MA0K1B2C1E", "enterprise_name": "山西汾河商贸有限公司",
        "legal_representative": "张三",
        "enterprise_type": "1100", "registered_capital_wan_yuan": "100", "established_on": "2015-06-01",
        "county_code": "140105", "address": "山西省太原市小店区长治路1号", "status": "1",
    },
}


def frame_of(dataset: str, *rows: dict[str, str | None]) -> pd.DataFrame:
    """A conformed frame: every contract field as str (None -> missing), ``_row`` from 2."""
    contract = CATALOG[dataset]
    full = [{**GOOD[dataset], **row} for row in rows]
    frame = pd.DataFrame({f: pd.Series([r[f] for r in full], dtype="str") for f in contract.field_names})
    frame[ROW] = range(2, len(full) + 2)
    return frame


def check(dataset: str, *rows: dict[str, str | None]):
    return check_rows(frame_of(dataset, *rows), CATALOG[dataset])


@pytest.mark.parametrize("dataset", GOOD)
def test_good_row_passes_unchanged(dataset):
    checked = check(dataset, {})
    assert checked.violations.empty
    assert list(checked.violations.columns) == VIOLATION_COLUMNS
    assert checked.valid.drop(columns=ROW).to_dict("records") == [GOOD[dataset]]


BAD = [
    # household_registration
    ("household_registration", "id_number", "140105199803071233", "cn_ric", "bad-checksum"),
    ("household_registration", "id_number", "140105199802301234", "cn_ric", "impossible-birth"),
    ("household_registration", "id_number", "14010519980307123", "cn_ric", "17-chars"),
    ("household_registration", "sex", "3", "code_list", "sex-code"),
    ("household_registration", "sex", "男性", "code_list", "sex-label-variant"),
    ("household_registration", "county_code", "110105", "gb2260_shanxi", "beijing-county"),
    ("household_registration", "county_code", "140100", "gb2260_shanxi", "prefecture-placeholder"),
    ("household_registration", "birth_date", "1998-02-30", "date", "feb-30"),
    ("household_registration", "birth_date", "07/03/1998", "date", "day-first"),
    ("household_registration", "birth_date", "不详", "date", "unknown-text"),
    ("household_registration", "registered_on", "2010-13-01", "date", "optional-date"),
    ("household_registration", "name", None, "required", "name-missing"),
    ("household_registration", "id_number", None, "required", "id-missing"),
    ("household_registration", "county_code", None, "required", "county-missing"),
    # minimum_living_allowance
    ("minimum_living_allowance", "household_size", "2.5", "integer", "fractional-size"),
    ("minimum_living_allowance", "household_size", "三", "integer", "chinese-numeral"),
    ("minimum_living_allowance", "household_size", "0", "range", "size-below-1"),
    ("minimum_living_allowance", "household_size", "21", "range", "size-above-20"),
    ("minimum_living_allowance", "allowance_yuan", "abc", "decimal", "amount-text"),
    ("minimum_living_allowance", "allowance_yuan", "650元", "decimal", "amount-with-unit"),
    ("minimum_living_allowance", "allowance_yuan", "-1", "range", "negative-amount"),
    ("minimum_living_allowance", "allowance_yuan", "20000.01", "range", "amount-above-max"),
    ("minimum_living_allowance", "start_month", "2024年13月", "date", "month-13"),
    ("minimum_living_allowance", "phone", "1380013800", "mobile", "ten-digit-phone"),
    # social_insurance_enrollment
    ("social_insurance_enrollment", "employer_uscc", "91140105MA0K1B2C1F", "uscc", "uscc-checksum"),
    ("social_insurance_enrollment", "employer_uscc", "91140105MA0K1B2CIE", "uscc", "uscc-letter-I"),
    ("social_insurance_enrollment", "employer_uscc", "91140105MA0K1B2C1", "uscc", "uscc-17-chars"),
    ("social_insurance_enrollment", "phone", "12800138000", "mobile", "phone-12x"),
    ("social_insurance_enrollment", "phone", "0351-4567890", "mobile", "landline-as-mobile"),
    ("social_insurance_enrollment", "insurance_type", "999", "code_list", "insurance-type"),
    ("social_insurance_enrollment", "enrolled_on", None, "required", "enrolled-missing"),
]


@cache
def checked_bad_values(dataset: str) -> Checked:
    """One check per dataset: row ``2 + i`` holds the i-th BAD case of the dataset, the last row is good."""
    cases = [{field: value} for ds, field, value, *_ in BAD if ds == dataset]
    return check(dataset, *cases, {})


@pytest.mark.parametrize(("dataset", "field", "value", "rule"),
                         [pytest.param(*case[:4], id=case[4]) for case in BAD])
def test_bad_value_is_one_violation_naming_its_rule(dataset, field, value, rule):
    cases = [(f, v) for ds, f, v, *_ in BAD if ds == dataset]
    row = 2 + cases.index((field, value))
    checked = checked_bad_values(dataset)
    found = checked.violations[checked.violations[ROW] == row]
    assert found[["column", "rule"]].to_dict("records") == [{"column": field, "rule": rule}]
    violation = found.iloc[0]
    title = CATALOG[dataset].by_name[field].title
    assert title in violation["detail"] and violation["fix"]
    assert checked.valid[ROW].tolist() == [2 + len(cases)]  # only the good row passes


@pytest.mark.parametrize(("dataset", "field", "raw", "canonical", "person"), [
    pytest.param("household_registration", "id_number", "14010520010815068x", ID_B, PERSON_B, id="lower-x"),
    pytest.param("household_registration", "id_number", "140105980307123", ID_A, {}, id="15-digit"),
    pytest.param("household_registration", "sex", "男", "1", {}, id="label-male"),
    pytest.param("household_registration", "sex", "女", "2", PERSON_B, id="label-female"),
    pytest.param("household_registration", "birth_date", "1998/3/7", "1998-03-07", {}, id="slashes"),
    pytest.param("household_registration", "birth_date", "1998年3月7日", "1998-03-07", {}, id="chinese-date"),
    pytest.param("household_registration", "birth_date", "19980307", "1998-03-07", {}, id="compact-date"),
    pytest.param("household_registration", "birth_date", "1998.03.07", "1998-03-07", {}, id="dotted-date"),
    pytest.param("household_registration", "birth_date", "1998-3-7", "1998-03-07", {}, id="unpadded-date"),
    pytest.param("minimum_living_allowance", "allowance_yuan", "1,234.50", "1234.5", {}, id="thousands-sep"),
    pytest.param("minimum_living_allowance", "household_size", "3.0", "3", {}, id="integer-as-3.0"),
    pytest.param("minimum_living_allowance", "household_size", "1,0", "10", {}, id="integer-with-comma"),
    pytest.param("minimum_living_allowance", "phone", "+86 138-0013-8000", "13800138000", {}, id="mobile"),
    pytest.param("social_insurance_enrollment", "employer_uscc", "91140105ma0k1b2c1e",
                 "91140105MA0K1B2C1E", {}, id="uscc-lower"),
    pytest.param("social_insurance_enrollment", "insurance_type", "失业保险", "210", {},
                 id="insurance-label"),
])
def test_values_are_normalized(dataset, field, raw, canonical, person):
    checked = check(dataset, {**person, field: raw})
    assert checked.violations.empty, checked.violations.to_dict("records")
    assert checked.valid[field].tolist() == [canonical]


def test_optional_missing_values_pass_as_missing():
    checked = check("household_registration", {"ethnicity": None, "address": None, "registered_on": None})
    assert checked.violations.empty
    assert checked.valid[["ethnicity", "address", "registered_on"]].isna().all(axis=None)


def test_two_bad_columns_are_two_violations_and_one_bad_row():
    checked = check("household_registration", {"sex": "9", "county_code": "110105"}, {})
    assert sorted(zip(checked.violations["column"], checked.violations["rule"], strict=True)) == [
        ("county_code", "gb2260_shanxi"), ("sex", "code_list")]
    assert checked.violations["_row"].unique().tolist() == [2]
    assert checked.valid[ROW].tolist() == [3]


def test_violations_point_at_the_right_rows():
    checked = check("minimum_living_allowance", {}, {"household_size": "0"}, {}, {"phone": "123"}, {})
    assert checked.violations[[ROW, "rule"]].to_dict("records") == [
        {ROW: 3, "rule": "range"}, {ROW: 5, "rule": "mobile"}]
    assert checked.valid[ROW].tolist() == [2, 4, 6]


# --- natural key -----------------------------------------------------------------------------


def test_same_key_with_different_values_rejects_every_row_of_that_key():
    checked = check("household_registration",
                    {}, {**PERSON_B, "name": "李四"}, {"name": "张叁"}, {"address": "别处"})
    conflicts = checked.violations[checked.violations["rule"] == "natural_key_conflict"]
    assert sorted(conflicts[ROW]) == [2, 4, 5]
    assert set(conflicts["column"]) == {"id_number"}
    assert checked.valid[ROW].tolist() == [3]


def test_identical_rows_are_not_a_conflict():
    checked = check("household_registration", {}, {}, PERSON_B)
    assert checked.violations.empty
    assert checked.valid[ROW].tolist() == [2, 3, 4]


def test_rows_that_differ_only_in_spelling_are_identical_after_normalization():
    checked = check("household_registration", {"sex": "男", "birth_date": "1998/3/7"}, {})
    assert checked.violations.empty
    assert len(checked.valid) == 2


def test_composite_key_conflicts_only_on_the_whole_key():
    checked = check("social_insurance_enrollment",
                    {}, {"insurance_type": "310"}, {"insurance_type": "310", "enrolled_on": "2021-01-01"})
    assert checked.violations[[ROW, "column", "rule"]].to_dict("records") == [
        {ROW: 3, "column": "id_number,insurance_type", "rule": "natural_key_conflict"},
        {ROW: 4, "column": "id_number,insurance_type", "rule": "natural_key_conflict"},
    ]
    assert checked.valid[ROW].tolist() == [2]


def test_key_conflict_is_judged_among_rows_that_passed_the_field_rules():
    checked = check("household_registration", {}, {"sex": "9"})
    assert checked.violations["rule"].tolist() == ["code_list"]
    assert checked.valid[ROW].tolist() == [2]


# --- through conform, as the pipeline runs it -------------------------------------------------


def test_full_width_extract_checks_clean_after_conform():
    raw = pd.DataFrame({"公民身份号码": ["１４０１０５２００１０８１５０６８ｘ"],
                        "姓名": ["\u3000李四 "], "性别": ["女"], "出生日期": ["２００１年８月１５日"],
                        "户籍地行政区划代码": ["１４０１０５"]}, dtype="str")
    raw[ROW] = [2]
    conformed, _ = conform(raw, CATALOG["household_registration"])
    checked = check_rows(conformed, CATALOG["household_registration"])
    assert checked.violations.empty
    assert checked.valid[["id_number", "name", "sex", "birth_date", "county_code"]].to_dict("records") == [
        {"id_number": ID_B, "name": "李四", "sex": "2", "birth_date": "2001-08-15", "county_code": "140105"}]


# --- bugs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e400"])
def test_infinite_decimal_is_not_a_number(value):
    checked = check("enterprise_registration", {"registered_capital_wan_yuan": value})
    assert checked.violations["rule"].tolist() == ["decimal"]


def test_non_ascii_digit_id_is_read_as_the_id_not_a_crash():
    """Other scripts' digits are the same ID (issue 11: ingest reads them as the leak guard
    does); Chinese numerals are not digits: a violation, still not a crash."""
    checked = check("household_registration", {"id_number": "١٤٠١٠٥١٩٩٨٠٣٠٧١٢٣٢"},
                    {"id_number": "一四〇一〇五一九九八〇三〇七一二三二"}, PERSON_B)
    assert checked.violations[[ROW, "rule"]].to_dict("records") == [{ROW: 3, "rule": "cn_ric"}]
    assert checked.valid["id_number"].tolist() == [ID_A, ID_B]


# --- a bad format names the part that failed, never the value -------------------------------

POSTCODE = CATALOG["household_registration"].by_name["county_code"].model_copy(
    update={"name": "postcode", "title": "邮政编码", "format": "postcode"})
FORMAT_FIELDS = {  # format -> a field of the catalog declaring it
    "cn_ric": CATALOG["household_registration"].by_name["id_number"],
    "uscc": CATALOG["enterprise_registration"].by_name["uscc"],
    "mobile": CATALOG["minimum_living_allowance"].by_name["phone"],
    "landline": CATALOG["vaccination_sites"].by_name["phone"],
    "gb2260_shanxi": CATALOG["household_registration"].by_name["county_code"],
    "postcode": POSTCODE,
}
PART_CASES = [
    ("cn_ric", "1401051998030712", "resident ID number: must have 18 characters"),
    ("cn_ric", "14010519980307123A", "resident ID number: only digits, with X allowed as the last"),
    ("cn_ric", "140105199803071233", "resident ID number: check character does not match the first 17"),
    ("cn_ric", "140105199802301235", "resident ID number: digits 7-14 are not a real birth date"),
    ("cn_ric", "990105199803071230", "resident ID number: the first 6 digits are not a GB/T 2260"),
    ("uscc", "91140105MA0K1B2C1", "unified social credit code: must have 18 characters"),
    ("uscc", "91140105MA0K1B2CIE", "unified social credit code: only digits and capital letters except I"),
    ("uscc", "94140105MA0K1B2C15", "unified social credit code: the first two characters are not a"),
    ("uscc", "9114O105MA0K1B2C1E", "unified social credit code: only digits and capital letters except I"),
    ("uscc", "911A0105MA0K1B2C17", "unified social credit code: characters 3-8 must be the six-digit"),
    ("uscc", "91140105MA0K1B2C1F", "unified social credit code: check character does not match"),
    ("mobile", "1380013800", "mobile number: must have 11 digits"),
    ("mobile", "138001380OO", "mobile number: only digits"),
    ("mobile", "12800138000", "mobile number: must start with 13-19"),
    ("landline", "0351-456789O", "landline: only digits, with one dash after the area code"),
    ("landline", "1351-4567890", "landline: must start with the area code"),
    ("landline", "0351-1234567", "landline: the local number must have 7-8 digits"),
    ("gb2260_shanxi", "1401", "county code: must have six digits"),
    ("gb2260_shanxi", "14010x", "county code: only the digits 0-9"),
    ("gb2260_shanxi", "110105", "county code: not a Shanxi county or district"),
    ("postcode", "03000", "postcode: must have six digits"),
    ("postcode", "03000a", "postcode: only the digits 0-9"),
]


@pytest.mark.parametrize(("fmt", "value", "problem"), [
    pytest.param(*case, id=f"{case[0]}-{case[2].split(': ')[1][:24]}") for case in PART_CASES])
def test_format_violation_names_the_failing_part_and_not_the_value(fmt, value, problem):
    spec = FORMAT_FIELDS[fmt]
    values = pd.Series([value, None], dtype="str")
    _, found = check_field(values, pd.Series([7, 8]), spec)
    [violation] = pd.concat(found).query("rule == @fmt").to_dict("records")
    assert violation[ROW] == 7
    assert violation["detail"].startswith(f"{spec.name} ({spec.title}): {problem}")
    if len(value) > 6:  # shorter ones may match an example in the text (140105 for 小店区)
        assert value not in violation["detail"] and value not in violation["fix"]


@pytest.mark.parametrize("fmt", sorted(FORMAT_FIELDS))
def test_each_bad_value_of_a_column_gets_its_own_part(fmt):
    cases = [(value, problem) for f, value, problem in PART_CASES if f == fmt]
    values = pd.Series([value for value, _ in cases], dtype="str")
    _, found = check_field(values, pd.Series(range(2, len(cases) + 2)), FORMAT_FIELDS[fmt])
    details = pd.concat(found).sort_values(ROW)["detail"].tolist()
    assert len(details) == len(cases)
    for detail, (_, problem) in zip(details, cases, strict=True):
        assert problem in detail


# --- cross-field checks: a record never contradicts its own identifier --------------------------


def with_checks(contract: Contract, *checks: dict) -> Contract:
    raw = contract.model_dump(by_alias=True, exclude={"checks"})
    return Contract.model_validate({**raw, "checks": list(checks)})


@pytest.mark.parametrize(("dataset", "change", "column", "titles"), [
    pytest.param("household_registration", {"birth_date": "1998-03-08"}, "id_number,birth_date",
                 ("出生日期", "公民身份号码"), id="household-birth-date"),
    pytest.param("household_registration", {"sex": "2"}, "id_number,sex", ("性别", "公民身份号码"),
                 id="household-sex"),
    pytest.param("household_registration", {"sex": "女"}, "id_number,sex", ("性别", "公民身份号码"),
                 id="household-sex-as-label"),
    pytest.param("social_insurance_enrollment", {"birth_date": "1999-03-07"}, "id_number,birth_date",
                 ("出生日期", "公民身份号码"), id="insurance-birth-date"),
    pytest.param("social_insurance_enrollment", {**PERSON_B, "sex": "1"}, "id_number,sex",
                 ("性别", "公民身份号码"), id="insurance-sex"),
])
def test_record_contradicting_its_own_id_number_is_quarantined_naming_both_fields(
        dataset, change, column, titles):
    checked = check(dataset, change, {})
    [violation] = checked.violations.to_dict("records")
    assert (violation[ROW], violation["column"], violation["rule"]) == (2, column, "id_matches")
    for name in column.split(","):
        assert name in violation["detail"]
    for title in titles:
        assert title in violation["detail"] and title in violation["fix"]
    said = violation["detail"] + violation["fix"]
    values = [v for v in [*change.values(), ID_A, ID_B, "1998", "0307"] if len(v) > 1]
    assert not any(value in said for value in values)
    assert checked.valid[ROW].tolist() == [3]


def test_birth_date_and_sex_both_wrong_are_two_reasons_for_one_row():
    checked = check("household_registration", {"sex": "2", "birth_date": "1998/3/9"})
    assert sorted(checked.violations["column"]) == ["id_number,birth_date", "id_number,sex"]
    assert checked.violations[ROW].unique().tolist() == [2] and checked.valid.empty


@pytest.mark.parametrize("change", [
    pytest.param({"sex": None, "birth_date": None}, id="optional-fields-empty"),
    pytest.param({"id_number": "140105199803071233"}, id="id-itself-invalid"),
    pytest.param({"birth_date": "1998-02-30"}, id="birth-date-invalid"),
])
def test_only_present_valid_values_are_compared(change):
    checked = check("social_insurance_enrollment", change)
    assert "id_matches" not in set(checked.violations["rule"])


def test_county_is_checked_against_the_id_number_where_a_contract_declares_it():
    contract = with_checks(CATALOG["minimum_living_allowance"],
                           {"rule": "id_matches", "id": "id_number", "county": "county_code"})
    frame = frame_of("minimum_living_allowance", {"county_code": "140106"}, {"id_number": ID_B})
    checked = check_rows(frame, contract)
    assert checked.violations[[ROW, "column", "rule"]].to_dict("records") == [
        {ROW: 2, "column": "id_number,county_code", "rule": "id_matches"}]
    assert "digits 1-6" in checked.violations["detail"].iloc[0]
    assert check_rows(frame, CATALOG["minimum_living_allowance"]).violations.empty  # not shipped


def test_registration_region_is_checked_against_the_credit_code_where_declared():
    contract = with_checks(CATALOG["enterprise_registration"],
                           {"rule": "uscc_matches_region", "uscc": "uscc", "region": "county_code"})
    checked = check_rows(frame_of("enterprise_registration", {"county_code": "140106"}, {}), contract)
    assert checked.violations[[ROW, "column", "rule"]].to_dict("records") == [
        {ROW: 2, "column": "uscc,county_code", "rule": "uscc_matches_region"}]
    assert "登记机关行政区划代码" in checked.violations["fix"].iloc[0]
    assert checked.valid[ROW].tolist() == [3]

