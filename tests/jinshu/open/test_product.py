"""The open-data product (pure): anonymized, not masked; standardized; a valid data package."""

from __future__ import annotations

import io
import json
from pathlib import Path

import frictionless
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jinshu.catalog import Contract
from jinshu.open import anonymize, product, provenance, publisher
from jinshu.open.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT
from jinshu.protect import policy
from jinshu.protect.cells import is_formula
from tests.jinshu.open.conftest import (
    CATALOG,
    FORMULAS,
    OPEN,
    PUBLIC_URL,
    RAW_ID,
    T0,
    built,
    people,
    people_contract,
    stored,
)

PERSONAL = ("personal", "sensitive_personal")


def personal_fields(contract: Contract) -> list[str]:
    return [f.name for f in contract.fields if f.sensitivity in PERSONAL]


def with_counties(contract: Contract, sizes: dict[str, int]) -> pd.DataFrame:
    frame = stored(contract, rows=sum(sizes.values()))
    frame["county_code"] = [code for code, n in sizes.items() for _ in range(n)]
    return frame


def files_of(contract: Contract, frame: pd.DataFrame, folder: Path) -> tuple[dict, product.Product]:
    made = built(frame, contract)
    files = publisher.render(contract, made, "20261102T080000Z", T0, PUBLIC_URL)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return json.loads(files["datapackage.json"]), made


def read_back(folder: Path, contract: Contract) -> dict[str, pd.DataFrame]:
    """The three data files as a reader loads them (all values as text)."""
    return {"csv": pd.read_csv(folder / f"{contract.id}.csv", dtype=str, keep_default_na=False,
                               encoding="utf-8-sig"),
            "json": pd.DataFrame(json.loads((folder / f"{contract.id}.json").read_bytes())),
            "parquet": pq.read_table(folder / f"{contract.id}.parquet").to_pandas()}


# --- anonymization ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [*(d for d in OPEN if personal_fields(CATALOG[d])), "residents"])
def test_no_direct_identifier_or_personal_value_is_published(tmp_path, dataset):
    contract = people_contract() if dataset == "residents" else CATALOG[dataset]
    frame = people() if dataset == "residents" else stored(contract)
    if "id_number" in frame:
        frame.loc[frame.index[0], "id_number"] = RAW_ID
    _, made = files_of(contract, frame, tmp_path)
    removed = [f for f in personal_fields(contract) if contract.open.qi_names.count(f) == 0]
    assert removed, "nothing personal to check"
    text = "".join(p.read_bytes().decode("utf-8", "replace") for p in tmp_path.iterdir())
    for name in removed:
        assert name not in made.rows.columns
        values = set(frame[name].dropna()) - {"nan"}
        assert values and not [v for v in values if v in text], f"{name} published"
    assert RAW_ID not in text


def test_quasi_identifiers_are_generalized_until_every_combination_appears_k_times(tmp_path):
    contract = people_contract(k=5, max_suppression=0.1)
    frame = people(rows=600)
    package, made = files_of(contract, frame, tmp_path)
    info = package["jinshu"]
    levels = info["anonymization"]["quasi_identifiers"]
    assert levels["birth_date"] in ("year", "decade") and levels["sex"] == "exact"
    assert levels["age"].startswith("band") and levels["address"] in ("district", "city", "province_name")
    qis = contract.open.qi_names
    for fmt, rows in read_back(tmp_path, contract).items():  # recomputed from the published files
        sizes = rows.astype(str).groupby(qis).size()
        assert sizes.min() >= contract.open.k, fmt
        assert len(rows) == info["rows"] == len(frame) - info["suppressed_rows"], fmt
        assert not rows["birth_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").any(), fmt  # never a date
    assert info["k_anonymity"] == anonymize.achieved_k(made.rows, qis) >= contract.open.k
    assert 0 < info["suppressed_rows"] <= 0.1 * len(frame)


def test_residual_records_are_suppressed_and_the_package_says_so(tmp_path):
    contract = people_contract(k=5, max_suppression=0.2)
    frame = people(rows=600)
    frame.loc[frame.index[:3], "county_code"] = "140702"  # three people of a county no one else shares
    frame.loc[frame.index[:3], "address"] = "山西省晋中市榆次区顺城街1号"
    package, made = files_of(contract, frame, tmp_path)
    info = package["jinshu"]
    assert info["suppressed_rows"] >= 3 and info["k_anonymity"] is not None
    assert info["k_anonymity"] >= contract.open.k
    assert "140702" not in set(made.rows["county_code"])
    assert info["anonymization"]["removed_fields"] == ["id_number", "name", "phone"]


def test_already_disclosed_opens_every_record_with_personal_fields_removed():
    contract = CATALOG["enterprise_registration"]
    frame = stored(contract)
    made = built(frame, contract)
    assert policy.on_exit(contract.by_name["legal_representative"], contract, policy.OPEN_DATA) == "drop"
    assert len(made.rows) == len(frame) and made.disclosure.suppressed_records == 0
    assert "legal_representative" not in made.rows.columns
    assert made.rows["uscc"].tolist() == frame["uscc"].tolist()  # public fields as stored
    assert made.disclosure.method.startswith("already disclosed")


def test_small_counties_join_their_prefecture_then_the_province_then_are_suppressed():
    contract = CATALOG["minimum_living_allowance"]
    sizes = {"140105": 7, "140106": 5, "140107": 3, "140108": 1,  # Taiyuan: 140107 + 140108 = 4
             "140202": 2, "140212": 2,  # Datong: 4, with Taiyuan's rest: the province
             "140302": 6}
    made = built(with_counties(contract, sizes), contract)
    rows = made.rows.set_index("county_code")
    assert rows.loc["140105", "record_count"] == 7 and rows.loc["140106", "record_count"] == 5
    assert rows.loc["140000", "record_count"] == 8  # 140107, 140108, 140202, 140212
    assert rows.loc["140000", "county_code_name"] == "山西省"
    assert rows.loc["140302", "county_code_name"] == "山西省阳泉市城区"
    assert made.disclosure.suppressed_records == 0 and made.disclosure.k_achieved == 5
    lonely = built(with_counties(contract, {"140105": 6, "140106": 2}), contract)
    assert lonely.rows["county_code"].tolist() == ["140105"]
    assert lonely.disclosure.suppressed_records == 2 and lonely.disclosure.suppressed_groups == 1


@pytest.mark.parametrize(("short_of_k", "published"), [(1, False), (0, True)])
def test_aggregate_group_of_exactly_k_is_published(short_of_k, published):
    contract = CATALOG["minimum_living_allowance"]
    size = contract.open.k - short_of_k
    made = built(with_counties(contract, {"140105": size}), contract)
    assert (len(made.rows) == 1) == published
    assert made.disclosure.suppressed_records == (0 if published else size)


def test_counts_are_exact_and_sums_carry_bounded_noise():
    contract = CATALOG["minimum_living_allowance"]
    frame = with_counties(contract, {"140105": 40, "140106": 9})
    made = built(frame, contract)
    typed = product.typed(frame, contract)
    for county, row in made.rows.set_index("county_code").iterrows():
        group = typed[typed["county_code"] == county]
        assert row["record_count"] == len(group)
        for name in ("household_size", "allowance_yuan"):
            true, top = group[name].sum(), group[name].max()
            noise = abs(float(row[f"sum_{name}"]) - float(true))
            assert 0.5 * float(top) - 1 <= noise <= 1.5 * float(top) + 1, (county, name)
    again = built(frame.sample(frac=1, random_state=3), contract)  # same records, any order
    assert again.rows.equals(made.rows)


# --- standardized and safe -------------------------------------------------------------------


def test_codes_have_names_and_labels_alongside_and_dates_are_iso():
    sites, enterprises = CATALOG["vaccination_sites"], CATALOG["enterprise_registration"]
    rows = built(stored(sites), sites).rows
    assert list(rows.columns[:6]) == ["site_code", "site_name", "site_type", "site_type_label",
                                      "county_code", "county_code_name"]
    assert (rows["site_type_label"] == rows["site_type"].map(sites.by_name["site_type"].values)).all()
    assert rows["county_code_name"].str.startswith("山西省").all()
    made = built(stored(enterprises), enterprises)
    assert made.rows["established_on"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert made.rows[ACQUIRED_ON].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    [status] = [f for f in made.fields if f["name"] == "status"]
    assert status["categories"] == [{"value": c, "label": lb}
                                    for c, lb in enterprises.by_name["status"].values.items()]


@pytest.mark.parametrize("dataset", [*OPEN, "residents"])
def test_every_published_field_has_a_chinese_title_and_description(tmp_path, dataset):
    contract = people_contract() if dataset == "residents" else CATALOG[dataset]
    package, _ = files_of(contract, people() if dataset == "residents" else stored(contract), tmp_path)
    for field in package["resources"][0]["schema"]["fields"]:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in field["title"]), field["name"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in field["description"]), field["name"]


def test_csv_is_utf8_with_a_bom_and_crlf_for_excel(tmp_path):
    contract = CATALOG["vaccination_sites"]
    files_of(contract, stored(contract), tmp_path)
    data = (tmp_path / f"{contract.id}.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    assert data.decode("utf-8-sig").splitlines()[0].startswith('"site_code","site_name"')


def test_no_published_file_holds_a_formula_a_spreadsheet_would_run(tmp_path):
    contract = CATALOG["vaccination_sites"]
    frame = stored(contract, rows=len(FORMULAS) + 4)
    for i, formula in enumerate(FORMULAS):
        frame.loc[i, "service_hours"] = formula
        frame.loc[i, "address"] = formula
    files_of(contract, frame, tmp_path)
    for fmt, rows in read_back(tmp_path, contract).items():
        cells = [v for v in rows.astype(str).to_numpy().ravel()]
        assert not [c for c in cells if is_formula(c)], fmt
        assert rows["service_hours"].tolist()[:len(FORMULAS)] == [f"'{f}" for f in FORMULAS], fmt
    assert not any(is_formula(v) for v in frame["site_code"])  # control: numbers-like codes untouched


# --- the data package ------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [*OPEN, "residents"])
def test_the_package_and_every_resource_validate_with_frictionless(tmp_path, dataset):
    contract = people_contract() if dataset == "residents" else CATALOG[dataset]
    package, made = files_of(contract, people() if dataset == "residents" else stored(contract), tmp_path)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["resourcePath", "rowNumber", "fieldName", "type", "note"])
    for resource in frictionless.Package(str(tmp_path / "datapackage.json")).resources:
        result = resource.validate()
        assert result.valid, (resource.name, result.flatten(["rowNumber", "fieldName", "type", "note"]))
        assert result.tasks[0].stats["rows"] == len(made.rows), resource.name
    assert [r["format"] for r in package["resources"]] == ["csv", "json", "parquet"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_validation_catches_a_broken_resource(tmp_path, fmt):
    """Controls: a duplicated key row in the CSV, a text where the JSON schema wants a number."""
    contract = CATALOG["vaccination_sites"]
    files_of(contract, stored(contract), tmp_path)
    path = tmp_path / f"{contract.id}.{fmt}"
    if fmt == "csv":
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        path.write_text("\ufeff" + "\r\n".join([*lines, lines[1]]) + "\r\n", encoding="utf-8")
    else:
        rows = json.loads(path.read_bytes())
        rows[0]["longitude"] = "东经"
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    resource = frictionless.Package(str(tmp_path / "datapackage.json")).get_resource(
        f"vaccination-sites-{fmt}")
    types = {t for [t] in resource.validate().flatten(["type"])}
    assert types & {"primary-key", "hash-count", "byte-count", "type-error"}, types


@pytest.mark.parametrize("dataset", OPEN)
def test_package_states_version_acquisition_sources_licence_and_contributors(tmp_path, dataset):
    contract = CATALOG[dataset]
    package, made = files_of(contract, stored(contract), tmp_path)
    stamp = json.loads((tmp_path / "provenance.json").read_bytes())
    assert package["version"] == stamp["version"] == "20261102T080000Z"
    assert package["created"] == stamp["acquired_at"] == "2025-03-04T10:30:00+00:00"
    assert package["jinshu"]["provenance"] == stamp and stamp["department"] == contract.department.name
    assert package["sources"][0]["path"].startswith(f"{PUBLIC_URL}/{dataset}/index.html")
    assert package["licenses"][0]["name"] == contract.open.licence
    assert {c["role"] for c in package["contributors"]} == {"author", "publisher"}
    assert set(stamp["files"]) == {f"{dataset}.csv", f"{dataset}.json", f"{dataset}.parquet"}
    for name, entry in stamp["files"].items():
        assert entry["sha256"] == provenance.sha256((tmp_path / name).read_bytes())
    embedded = json.loads(pq.ParquetFile(io.BytesIO((tmp_path / f"{dataset}.parquet").read_bytes()))
                          .schema_arrow.metadata[b"jinshu.provenance"])
    assert {k: embedded[k] for k in provenance.STAMPED} == {k: stamp[k] for k in provenance.STAMPED}
    rows = made.rows
    assert (rows[SOURCE_DEPARTMENT] == contract.department.name).all()
    assert (rows[SOURCE_DATASET] == contract.id).all()
    assert list(rows.columns[-3:]) == [SOURCE_DEPARTMENT, SOURCE_DATASET, ACQUIRED_ON]


def test_licences_come_from_each_contract():
    licences = {d: CATALOG[d].open.licence for d in OPEN}
    assert len(set(licences.values())) > 1, licences  # not one hard-coded licence for all
