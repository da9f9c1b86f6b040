"""Open data: nothing personal in the clear, provenance on every row, a valid data package."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import frictionless
import pandas as pd
import pytest

from jinshu.catalog import Contract, load_catalog
from jinshu.dev.generate import generate_frame
from jinshu.open import product
from jinshu.open.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, describe
from jinshu.settings import DEFAULT_CATALOG_DIR

CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
OPEN = [c.id for c in CATALOG.values() if c.is_open]
ACQUIRED_AT = pd.Timestamp("2025-03-04T10:30:00Z")
PUBLISHED_AT = datetime(2025, 3, 5, 8, 0, tzinfo=UTC)
ROWS = 60


def stored(contract: Contract, rows: int = ROWS, seed: int = 11) -> pd.DataFrame:
    """A generated frame shaped as publish() reads it from the store: NULLs, numbers, ``_acquired_at``."""
    frame = generate_frame(contract, rows, seed=seed)
    frame = frame.mask(frame == "")
    for f in contract.fields:
        if f.type in ("integer", "decimal"):
            frame[f.name] = pd.to_numeric(frame[f.name])
    frame["_acquired_at"] = ACQUIRED_AT
    return frame


def with_counties(contract: Contract, sizes: dict[str, int]) -> pd.DataFrame:
    frame = stored(contract, rows=sum(sizes.values()))
    frame["county_code"] = [code for code, n in sizes.items() for _ in range(n)]
    return frame


def personal_fields(contract: Contract) -> list[str]:
    return [f.name for f in contract.fields if f.sensitivity in ("personal", "sensitive_personal")]


# --- de-identification -----------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [d for d in OPEN if personal_fields(CATALOG[d])])
def test_no_personal_value_in_the_clear(dataset):
    contract = CATALOG[dataset]
    frame = stored(contract)
    out, _ = product.anonymize(frame, contract)
    cells = set(out.astype("str").to_numpy().ravel())
    for name in personal_fields(contract):
        clear = set(frame[name].dropna())
        assert clear, name
        assert not clear & cells, f"{name} appears in the clear"
        if name in out.columns:
            assert product.treatment(contract.by_name[name], contract) == "mask"


@pytest.mark.parametrize("dataset", OPEN)
def test_only_public_or_masked_fields_are_published(dataset):
    contract = CATALOG[dataset]
    out, _ = product.anonymize(stored(contract), contract)
    provenance = [SOURCE_DEPARTMENT, SOURCE_DATASET, ACQUIRED_ON]
    assert list(out.columns[-3:]) == provenance
    for name in out.columns[:-3]:
        spec = contract.by_name.get(name)
        if spec is not None:
            assert spec.sensitivity == "public" or product.treatment(spec, contract) == "mask", name


def test_enterprise_legal_representative_is_masked_not_dropped():
    contract = CATALOG["enterprise_registration"]
    assert contract.open.already_disclosed
    frame = stored(contract)
    out, suppressed = product.anonymize(frame, contract)
    assert suppressed == 0 and len(out) == len(frame)
    expected = [v[0] + "*" * (len(v) - 1) for v in frame["legal_representative"]]
    assert out["legal_representative"].tolist() == expected
    assert out["uscc"].tolist() == frame["uscc"].tolist()  # public fields as stored


@pytest.mark.parametrize(("sensitivity", "disclosed", "expected"), [
    pytest.param("public", False, "keep", id="public"),
    pytest.param("personal", True, "mask", id="personal-disclosed"),
    pytest.param("personal", False, "drop", id="personal"),
    pytest.param("sensitive_personal", True, "drop", id="sensitive-disclosed"),
    pytest.param("internal", True, "drop", id="internal-disclosed"),
    pytest.param("trade_secret", True, "drop", id="trade-secret-disclosed"),
])
def test_treatment(sensitivity, disclosed, expected):
    contract = small_contract(sensitivity=sensitivity, already_disclosed=disclosed)
    assert product.treatment(contract.by_name["detail"], contract) == expected


def small_contract(sensitivity: str = "public", already_disclosed: bool = False,
                   quasi_identifiers: tuple[str, ...] = (), k: int = 5) -> Contract:
    law = {"law": "测试条例 第一条"}
    return Contract.model_validate({
        "id": "small", "title": "测试", "department": {"code": "sx_test", "name": "测试厅"},
        "subject": "none", "natural_key": ["code"], "update_cycle": "daily",
        "sharing": {"class": "unconditional"},
        "open": {"class": "open", "already_disclosed": already_disclosed,
                 "quasi_identifiers": list(quasi_identifiers), "k": k},
        "fields": [
            {"name": "code", "title": "编码", "sensitivity": "public", "basis": law},
            {"name": "band", "title": "年龄段", "sensitivity": "public", "basis": law},
            {"name": "sex", "title": "性别", "sensitivity": "public", "basis": law},
            {"name": "detail", "title": "明细", "sensitivity": sensitivity, "basis": law},
        ],
    })


def test_rare_quasi_identifier_combinations_are_suppressed():
    contract = small_contract(quasi_identifiers=("band", "sex"), k=3)
    bands = ["20-29"] * 4 + ["30-39"] * 3 + ["30-39"] * 2 + ["90+"]
    sexes = ["1"] * 4 + ["2"] * 3 + ["1"] * 2 + ["2"]
    frame = pd.DataFrame({"code": [f"C{i}" for i in range(10)], "band": bands, "sex": sexes,
                          "detail": "x", "_acquired_at": ACQUIRED_AT}, dtype="str")
    frame["_acquired_at"] = ACQUIRED_AT
    out, suppressed = product.anonymize(frame, contract)
    assert suppressed == 3
    assert out["code"].tolist() == [f"C{i}" for i in range(7)]
    assert out.groupby(["band", "sex"]).size().min() >= 3


# --- aggregated open data --------------------------------------------------------------------


def test_minimum_living_allowance_opens_as_county_aggregates():
    contract = CATALOG["minimum_living_allowance"]
    sizes = {"140105": 7, "140106": 5, "140107": 4, "140108": 1}
    frame = with_counties(contract, sizes)
    out, suppressed = product.anonymize(frame, contract)
    assert suppressed == 4 + 1
    assert out["county_code"].tolist() == ["140105", "140106"]
    assert out["record_count"].tolist() == [7, 5]
    for county in ("140105", "140106"):
        group = frame[frame["county_code"] == county]
        row = out[out["county_code"] == county].iloc[0]
        assert row["sum_household_size"] == group["household_size"].sum()
        assert row["sum_allowance_yuan"] == pytest.approx(group["allowance_yuan"].sum(), abs=0.006)
    assert set(out.columns) == {"county_code", "record_count", "sum_household_size", "sum_allowance_yuan",
                                SOURCE_DEPARTMENT, SOURCE_DATASET, ACQUIRED_ON}


@pytest.mark.parametrize(("short_of_k", "published"), [(1, False), (0, True)])
def test_aggregate_group_of_exactly_k_is_published(short_of_k, published):
    contract = CATALOG["minimum_living_allowance"]
    size = contract.open.k - short_of_k
    out, suppressed = product.anonymize(with_counties(contract, {"140105": size}), contract)
    assert (len(out) == 1) == published
    assert suppressed == (0 if published else size)


# --- provenance ------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", OPEN)
def test_every_row_states_source_and_acquisition_date(dataset):
    contract = CATALOG[dataset]
    frame = stored(contract) if dataset != "minimum_living_allowance" else with_counties(
        contract, {"140105": 6, "140106": 8})
    frame.loc[frame.index[-1], "_acquired_at"] = pd.Timestamp("2025-03-06T09:00:00Z")
    out, _ = product.anonymize(frame, contract)
    assert len(out) > 0
    assert (out[SOURCE_DEPARTMENT] == contract.department.name).all()
    assert (out[SOURCE_DATASET] == contract.id).all()
    assert set(out[ACQUIRED_ON]) <= {"2025-03-04", "2025-03-06"}
    assert out[ACQUIRED_ON].iloc[-1] == "2025-03-06"  # a group or row takes its newest batch's date


# --- the data package ------------------------------------------------------------------------


def published(dataset: str, tmp_path: Path) -> tuple[Path, dict, pd.DataFrame]:
    contract = CATALOG[dataset]
    frame = stored(contract) if dataset != "minimum_living_allowance" else with_counties(
        contract, {"140105": 6, "140106": 8, "140107": 2})
    out, suppressed = product.anonymize(frame, contract)
    provenance = describe(contract, ACQUIRED_AT.to_pydatetime(), PUBLISHED_AT)
    package = product.datapackage(contract, len(out), suppressed, provenance)
    for name, data in product.render(out, contract, package).items():
        (tmp_path / name).write_bytes(data)
    return tmp_path / "datapackage.json", package, out


def csv_resource(dataset: str) -> str:
    return f"{dataset.replace('_', '-')}-csv"


@pytest.mark.parametrize("dataset", OPEN)
def test_datapackage_csv_resource_is_valid(tmp_path, dataset):
    path, _, out = published(dataset, tmp_path)
    package = frictionless.Package(str(path))
    resource = package.get_resource(csv_resource(dataset))
    report = resource.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert report.tasks[0].stats["rows"] == len(out)
    report = frictionless.validate(str(path), resource_name=csv_resource(dataset))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


@pytest.mark.parametrize("dataset", OPEN)
def test_validation_catches_a_broken_csv(tmp_path, dataset):
    """Control: the same package with a duplicated primary key row must not validate."""
    path, _, _ = published(dataset, tmp_path)
    csv_path = tmp_path / f"{dataset}.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    csv_path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    report = frictionless.Package(str(path)).get_resource(csv_resource(dataset)).validate()
    assert not report.valid
    assert ["primary-key"] in report.flatten(["type"])


@pytest.mark.parametrize("dataset", OPEN)
def test_datapackage_names_source_department_and_acquisition(tmp_path, dataset):
    path, package, out = published(dataset, tmp_path)
    contract = CATALOG[dataset]
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written == package
    assert written["sources"][0]["title"] == contract.department.name
    assert written["jinshu"]["source_department"] == contract.department.name
    assert written["jinshu"]["acquired_at"] == ACQUIRED_AT.isoformat()
    assert written["created"] == PUBLISHED_AT.isoformat()
    assert written["jinshu"]["rows"] == len(out)
    fields = [f["name"] for f in written["resources"][0]["schema"]["fields"]]
    header = (tmp_path / f"{dataset}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == fields == list(out.columns)
    assert {SOURCE_DEPARTMENT, ACQUIRED_ON} <= set(fields)


def test_aggregated_package_reports_suppressed_records(tmp_path):
    _, package, out = published("minimum_living_allowance", tmp_path)
    assert package["jinshu"]["suppressed_rows"] == 2
    assert package["jinshu"]["rows"] == len(out) == 2
    assert package["resources"][0]["schema"]["primaryKey"] == ["county_code"]
    assert "民生" in package["keywords"]
