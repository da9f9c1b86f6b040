"""The sample-extract generator: valid, realistic, deterministic, and each fault visible."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from jinshu.catalog import Contract, load_catalog
from jinshu.collect.read import ROW
from jinshu.collect.rules import check_rows
from jinshu.dev.generate import (
    FAULTS,
    UNDECLARED_COLUMN,
    UNDECLARED_MARKER,
    generate_extract,
    generate_frame,
    render_extract,
    write_sample_landing,
)
from jinshu.settings import DEFAULT_CATALOG_DIR
from jinshu.vocab import formats
from jinshu.vocab.divisions import county_name, shanxi_counties

ROWS = 200
CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
PERSON_DATASETS = [c.id for c in CATALOG.values() if c.subject == "person"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {dataset: generate_frame(contract, ROWS, seed=7) for dataset, contract in CATALOG.items()}


def read_csv(data: bytes, encoding: str = "utf-8") -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding=encoding)


def filled(values: pd.Series) -> pd.Series:
    return values[values != ""]


# --- validity against the contract --------------------------------------------------------


@pytest.mark.parametrize("dataset", CATALOG)
def test_frame_has_the_contract_fields_as_strings(frames, dataset):
    frame = frames[dataset]
    assert list(frame.columns) == CATALOG[dataset].field_names
    assert len(frame) == ROWS
    assert all(dtype == "str" for dtype in frame.dtypes)


@pytest.mark.parametrize("dataset", CATALOG)
def test_every_value_passes_its_field_rules(frames, dataset):
    frame = frames[dataset]
    for spec in CATALOG[dataset].fields:
        values = filled(frame[spec.name])
        if spec.required:
            assert len(values) == ROWS, spec.name
        if spec.format:
            assert formats.REGISTRY[spec.format].is_valid(values).all(), spec.name
        if spec.values:
            assert values.isin(list(spec.values)).all(), spec.name
        if spec.type in ("integer", "decimal"):
            pattern = r"-?\d+" if spec.type == "integer" else r"-?\d+\.\d{2}"
            assert values.str.fullmatch(pattern).all(), spec.name
            numbers = values.astype(float)
            assert numbers.min() >= (spec.minimum if spec.minimum is not None else -np.inf)
            assert numbers.max() <= (spec.maximum if spec.maximum is not None else np.inf)
        if spec.type == "date":
            days = pd.to_datetime(values, format="%Y-%m-%d")
            assert days.min() >= pd.Timestamp("1940-01-01"), spec.name
            assert days.max() <= pd.Timestamp("2026-11-01"), spec.name


def with_checks(contract: Contract, *checks: dict) -> Contract:
    """The contract with more cross-field checks declared."""
    raw = contract.model_dump(by_alias=True, exclude={"checks"})
    return Contract.model_validate({**raw, "checks": [*contract.model_dump()["checks"], *checks]})


ALL_CHECKS = {  # every check a shipped contract could declare, beyond the ones it does
    "household_registration": [{"rule": "id_matches", "id": "id_number", "county": "county_code"}],
    "minimum_living_allowance": [{"rule": "id_matches", "id": "id_number", "county": "county_code"}],
    "enterprise_registration": [{"rule": "uscc_matches_region", "uscc": "uscc",
                                 "region": "county_code"}],
}


@pytest.mark.parametrize("dataset", CATALOG)
def test_generated_records_pass_the_row_rules_and_agree_with_their_identifiers(frames, dataset):
    contract = with_checks(CATALOG[dataset], *ALL_CHECKS.get(dataset, []))
    frame = frames[dataset].replace("", None).astype("str").assign(**{ROW: range(2, ROWS + 2)})
    checked = check_rows(frame, contract)
    assert checked.violations.empty, checked.violations.head().to_dict("records")
    assert len(checked.valid) == ROWS


@pytest.mark.parametrize("dataset", CATALOG)
def test_natural_keys_are_unique(frames, dataset):
    contract = CATALOG[dataset]
    assert not frames[dataset].duplicated(list(contract.natural_key)).any()


@pytest.mark.parametrize("dataset", CATALOG)
def test_optional_fields_are_sometimes_empty_and_keys_never(dataset):
    contract = CATALOG[dataset]
    frame = generate_frame(contract, 4000, seed=1)
    keys = {*contract.natural_key, contract.subject_key}
    for spec in contract.fields:
        empty = (frame[spec.name] == "").mean()
        if spec.required or spec.name in keys:
            assert empty == 0, spec.name
        else:
            assert 0.02 < empty < 0.08, spec.name


@pytest.mark.parametrize("dataset", PERSON_DATASETS)
def test_person_fields_agree_with_the_id_number(frames, dataset):
    frame = frames[dataset]
    ids = frame["id_number"]
    assert ids.str.slice(0, 6).isin(shanxi_counties(current_only=True)).all()
    assert ids.str.slice(6, 10).astype(int).between(1940, 2008).all()
    assert (frame["county_code"] == ids.str.slice(0, 6)).all()
    if "birth_date" in frame:
        dated = frame["birth_date"] != ""
        assert (frame["birth_date"][dated].str.replace("-", "") == ids[dated].str.slice(6, 14)).all()
    if "sex" in frame:
        sexed = frame["sex"] != ""
        odd = ids[sexed].str.slice(16, 17).astype(int) % 2 == 1
        assert ((frame["sex"][sexed] == "1") == odd).all()


@pytest.mark.parametrize("dataset", PERSON_DATASETS)
def test_id_numbers_agree_with_stdnum(frames, dataset):
    ids = frames[dataset]["id_number"]
    # calc_check_digit takes the whole number: it ignores the last character.
    assert all(stdnum_ric.calc_check_digit(number) == number[-1] for number in ids)
    # stdnum also rejects codes created after the birth year (2018-2019 districts): a few.
    assert np.mean([stdnum_ric.is_valid(number) for number in ids]) > 0.85


@pytest.mark.parametrize(("dataset", "field"), [
    ("enterprise_registration", "uscc"),
    ("social_insurance_enrollment", "employer_uscc"),
])
def test_credit_codes_pass_stdnum(frames, dataset, field):
    codes = filled(frames[dataset][field])
    assert len(codes) > ROWS // 2
    assert all(stdnum_uscc.is_valid(code) for code in codes)
    county = frames[dataset]["county_code"][codes.index]
    assert (codes.str.slice(0, 2) == "91").all() and (codes.str.slice(2, 8) == county).all()


def test_names_look_like_chinese_names(frames):
    names = frames["household_registration"]["name"]
    assert names.str.fullmatch(r"[\u4e00-\u9fff]{2,4}").all()
    assert names.nunique() > ROWS * 0.8


@pytest.mark.parametrize("dataset", [c.id for c in CATALOG.values() if "address" in c.by_name])
def test_addresses_name_the_rows_county(frames, dataset):
    frame = frames[dataset]
    addresses = filled(frame["address"])
    counties = frame["county_code"][addresses.index].map(county_name)
    assert addresses.str.startswith("山西省").all()
    assert all(county in address for county, address in zip(counties, addresses, strict=True))


@pytest.mark.parametrize(("dataset", "field"), [
    ("household_registration", "registered_on"),
    ("social_insurance_enrollment", "enrolled_on"),
    ("minimum_living_allowance", "start_month"),
])
def test_events_follow_the_persons_16th_birthday(frames, dataset, field):
    frame = frames[dataset][frames[dataset][field] != ""]
    event = pd.to_datetime(frame[field], format="%Y-%m-%d")
    birth = pd.to_datetime(frame["id_number"].str.slice(6, 14), format="%Y%m%d")
    assert (event >= birth + pd.DateOffset(years=16) - pd.Timedelta(days=31)).all()
    assert (event >= pd.Timestamp("1990-01-01")).all()
    if field.endswith("_month"):
        assert (event.dt.day == 1).all()


def test_fields_without_a_known_name_still_get_plausible_values():
    contract = Contract.model_validate({
        "id": "synthetic", "title": "合成", "department": {"code": "sx_test", "name": "测试"},
        "subject": "none", "natural_key": ["code"], "update_cycle": "daily",
        "sharing": {"class": "unconditional"}, "open": {"class": "open"},
        "fields": [
            {"name": "code", "title": "邮编", "format": "postcode", "required": True},
            {"name": "delta", "title": "变化", "type": "decimal", "minimum": -5, "maximum": 5,
             "required": True},
            {"name": "count", "title": "数量", "type": "integer", "required": True},
            {"name": "note", "title": "说明", "required": True},
        ],
    })
    frame = generate_frame(contract, 500, seed=4)
    assert formats.postcode.is_valid(frame["code"]).all()
    assert frame["delta"].str.fullmatch(r"-?\d+\.\d{2}").all()
    assert frame["delta"].astype(float).between(-5, 5).all()
    assert (frame["delta"].astype(float) < 0).any()
    assert frame["count"].astype(int).ge(0).all()
    assert (frame["note"].str.len() > 0).all()


def test_ids_reuse_people_of_another_frame(frames):
    household = frames["household_registration"]
    enrolled = generate_frame(CATALOG["social_insurance_enrollment"], 50, seed=3,
                              ids=household["id_number"])
    assert enrolled["id_number"].is_unique
    joined = enrolled.merge(household, on="id_number", suffixes=("", "_registry"))
    assert len(joined) == 50
    for column in ("name", "county_code"):
        assert (joined[column] == joined[f"{column}_registry"]).all(), column
    for column in ("sex", "birth_date"):
        present = joined[column] != ""
        assert (joined[column][present] == joined[f"{column}_registry"][present]).all(), column


def test_ids_pool_too_small_is_refused(frames):
    with pytest.raises(ValueError, match="distinct"):
        generate_frame(CATALOG["social_insurance_enrollment"], ROWS + 1,
                       ids=frames["household_registration"]["id_number"])


# --- serialization and determinism --------------------------------------------------------


@pytest.mark.parametrize("dataset", CATALOG)
def test_csv_is_utf8_minimal_quoting_with_titles(frames, dataset):
    contract = CATALOG[dataset]
    name, data = render_extract(contract, frames[dataset], seed=7)
    assert name == f"{dataset}_7.csv"
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
    titled = frames[dataset].rename(columns={f.name: f.title for f in contract.fields})
    assert data.decode("utf-8") == titled.to_csv(index=False, lineterminator="\n")


def test_header_can_use_field_names(frames):
    contract = CATALOG["vaccination_sites"]
    _, data = render_extract(contract, frames["vaccination_sites"], header="name")
    assert list(read_csv(data).columns) == contract.field_names


def test_values_that_need_quotes_are_quoted(frames):
    contract = CATALOG["vaccination_sites"]
    frame = frames["vaccination_sites"].head(3).copy()
    frame.loc[0, "service_hours"] = '周一, 周三 "上午"'
    _, data = render_extract(contract, frame, header="name")
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows([frame.columns, *frame.to_numpy()])
    assert data.decode() == expected.getvalue()
    assert '"周一, 周三 ""上午"""' in expected.getvalue()


@pytest.mark.parametrize("faults", [
    frozenset(),
    frozenset(FAULTS) - {"xlsx"},
    frozenset({"xlsx", "bad_checksum", "duplicate_rows", "undeclared_column"}),
])
def test_same_seed_same_bytes_other_seed_other_bytes(faults):
    contract = CATALOG["household_registration"]
    first = generate_extract(contract, 100, seed=5, faults=faults)
    assert generate_extract(contract, 100, seed=5, faults=faults) == first
    assert generate_extract(contract, 100, seed=6, faults=faults)[1] != first[1]


def test_xlsx_bytes_do_not_depend_on_the_clock(frames, monkeypatch):
    contract, frame = CATALOG["vaccination_sites"], frames["vaccination_sites"]
    first = render_extract(contract, frame, faults={"xlsx"})
    later = time.time() + 400 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    assert render_extract(contract, frame, faults={"xlsx"}) == first


def test_different_contracts_draw_different_people():
    household = generate_frame(CATALOG["household_registration"], 100)
    allowance = generate_frame(CATALOG["minimum_living_allowance"], 100)
    assert not set(household["id_number"]) & set(allowance["id_number"])


# --- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(("dataset", "field"), [
    ("household_registration", "id_number"),
    ("enterprise_registration", "uscc"),
])
def test_bad_checksum_breaks_a_few_check_characters(frames, dataset, field):
    contract = CATALOG[dataset]
    _, data = render_extract(contract, frames[dataset], faults={"bad_checksum"}, header="name")
    extract = read_csv(data)
    module = formats.REGISTRY[contract.by_name[field].format]
    broken = ~module.is_valid(extract[field])
    assert broken.sum() == max(1, ROWS // 100)
    clean = frames[dataset][field]
    assert (extract[field].str.slice(0, 17) == clean.str.slice(0, 17)).all()
    assert (extract[field][~broken] == clean[~broken]).all()


def test_bad_checksum_needs_a_checked_field(frames):
    with pytest.raises(ValueError, match="no cn_ric or uscc"):
        render_extract(CATALOG["vaccination_sites"], frames["vaccination_sites"],
                       faults={"bad_checksum"})


def test_duplicate_rows_repeat_existing_rows_at_the_end(frames):
    contract = CATALOG["household_registration"]
    _, data = render_extract(contract, frames["household_registration"],
                             faults={"duplicate_rows"}, header="name")
    extract = read_csv(data)
    repeats = max(1, ROWS // 100)
    assert len(extract) == ROWS + repeats
    assert extract.duplicated().sum() == repeats
    assert extract.duplicated().iloc[ROWS:].all()


def test_undeclared_column_carries_the_marker(frames):
    contract = CATALOG["minimum_living_allowance"]
    frame = frames["minimum_living_allowance"]
    _, data = render_extract(contract, frame, faults={"undeclared_column"}, header="name")
    extract = read_csv(data)
    assert list(extract.columns) == [*contract.field_names, UNDECLARED_COLUMN]
    remarks = filled(extract[UNDECLARED_COLUMN])
    assert 0.3 * ROWS < len(remarks) < 0.7 * ROWS
    assert remarks.str.contains(UNDECLARED_MARKER, regex=False).all()
    pd.testing.assert_frame_equal(extract[contract.field_names], frame, check_dtype=False)


def test_gb18030_is_not_utf8(frames):
    contract = CATALOG["household_registration"]
    _, clean = render_extract(contract, frames["household_registration"])
    _, data = render_extract(contract, frames["household_registration"], faults={"gb18030"})
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.decode("gb18030") == clean.decode("utf-8")


def test_xlsx_is_one_sheet_of_text(frames):
    contract = CATALOG["enterprise_registration"]
    name, data = render_extract(contract, frames["enterprise_registration"], faults={"xlsx"})
    assert name == "enterprise_registration_0.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert book.properties.modified == datetime(2026, 1, 1)  # fixed, not the clock's
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == ROWS + 1
    assert list(rows[0]) == [f.title for f in contract.fields]
    assert all(value is None or isinstance(value, str) for row in rows for value in row)
    assert [value or "" for value in rows[1]] == frames["enterprise_registration"].iloc[0].tolist()


def test_ragged_rows_have_another_field_count(frames):
    contract = CATALOG["social_insurance_enrollment"]
    _, data = render_extract(contract, frames["social_insurance_enrollment"],
                             faults={"ragged_rows"})
    header, *rows = csv.reader(io.StringIO(data.decode()))
    counts = pd.Series([len(row) for row in rows])
    assert len(rows) == ROWS
    assert (counts != len(header)).sum() == max(1, ROWS // 100)
    assert set(counts) <= {len(header) - 1, len(header), len(header) + 1}
    assert len(header) + 1 in set(counts)


@pytest.mark.parametrize(("faults", "message"), [
    ({"typo"}, "unknown faults"),
    ({"xlsx", "gb18030"}, "CSV"),
    ({"xlsx", "ragged_rows"}, "CSV"),
])
def test_impossible_faults_are_refused(frames, faults, message):
    with pytest.raises(ValueError, match=message):
        render_extract(CATALOG["household_registration"], frames["household_registration"],
                       faults=faults)


# --- landing ------------------------------------------------------------------------------


def test_sample_landing_has_one_clean_extract_per_contract(tmp_path):
    contracts: dict[str, Contract] = CATALOG
    paths = write_sample_landing(tmp_path, contracts, 20, seed=2)
    assert len(paths) == len(contracts)
    for path, contract in zip(paths, contracts.values(), strict=True):
        name, data = generate_extract(contract, 20, seed=2)
        assert path == tmp_path / contract.department.code / contract.id / name
        assert path.read_bytes() == data


@pytest.mark.parametrize("dataset", ["household_registration", "social_insurance_enrollment"])
def test_contradicting_fields_break_a_few_records_against_their_own_id(frames, dataset):
    contract = CATALOG[dataset]
    clean = frames[dataset]
    _, data = render_extract(contract, clean, faults={"contradicting_fields"}, header="name")
    extract = read_csv(data).fillna("")
    changed = (extract[contract.field_names] != clean).any(axis=1)
    assert 1 <= changed.sum() <= max(1, ROWS // 100)  # about 1% of the rows with both filled
    assert set(extract.columns[(extract[contract.field_names] != clean).any()]) <= {"sex", "birth_date"}
    conformed = extract.replace("", None).astype("str").assign(**{ROW: range(2, len(extract) + 2)})
    violations = check_rows(conformed, contract).violations
    assert set(violations["rule"]) == {"id_matches"}
    assert sorted(set(violations[ROW] - 2)) == np.flatnonzero(changed).tolist()


def test_contradicting_fields_need_a_declared_check(frames):
    with pytest.raises(ValueError, match="no cross-field check"):
        render_extract(CATALOG["vaccination_sites"], frames["vaccination_sites"],
                       faults={"contradicting_fields"})
