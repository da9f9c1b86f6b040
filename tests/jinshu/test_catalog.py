"""The catalog: the real contracts load, and every load-time rule refuses a bad contract.

Each refusal must name the file, the field (when the rule is about one) and
the rule, so the department can fix its YAML without reading code.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from jinshu.catalog import ContractError, load_catalog, load_contract
from jinshu.settings import DEFAULT_CATALOG_DIR

CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCE = DEFAULT_CATALOG_DIR / "sx_gongan" / "household_registration.yaml"
BASE = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
FIELD_INDEX = {f["name"]: i for i, f in enumerate(BASE["fields"])}


def write(tmp_path: Path, raw: object, name: str = "contract.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def mutated(change: Callable[[dict], None]) -> dict:
    raw = copy.deepcopy(BASE)
    change(raw)
    return raw


def set_field(name: str, key: str, value: object) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        raw["fields"][FIELD_INDEX[name]][key] = value
    return change


def drop_field_key(name: str, key: str) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        del raw["fields"][FIELD_INDEX[name]][key]
    return change


def set_top(key: str, value: object) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        raw[key] = value
    return change


# --- the real catalog ------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", CATALOG)
def test_every_contract_sits_in_its_departments_folder_named_after_its_id(dataset):
    contract = CATALOG[dataset]
    [path] = DEFAULT_CATALOG_DIR.rglob(f"{dataset}.yaml")
    assert path.relative_to(DEFAULT_CATALOG_DIR).as_posix() == f"{contract.department.code}/{dataset}.yaml"


def test_a_department_code_names_one_department():
    names: dict[str, set[str]] = {}
    for contract in CATALOG.values():
        names.setdefault(contract.department.code, set()).add(contract.department.name)
    assert {code: n for code, n in names.items() if len(n) > 1} == {}


@pytest.mark.parametrize("dataset", CATALOG)
def test_every_field_has_a_chinese_title(dataset):
    for f in CATALOG[dataset].fields:
        assert CJK.search(f.title), f"{dataset}.{f.name} title {f.title!r} has no CJK character"


@pytest.mark.parametrize("dataset", CATALOG)
def test_contract_round_trips_through_yaml(tmp_path, dataset):
    """Control for the mutation tests: re-dumping an unchanged contract still loads."""
    source = next(DEFAULT_CATALOG_DIR.rglob(f"{dataset}.yaml"))
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    assert load_contract(write(tmp_path, raw)).model_dump() == CATALOG[dataset].model_dump()


def test_sensitive_field_on_separate_consent_loads(tmp_path):
    raw = mutated(set_field("ethnicity", "basis", {"consent": {"purpose": "民族统计", "separate": True}}))
    contract = load_contract(write(tmp_path, raw))
    assert contract.by_name["ethnicity"].needs_consent


# --- load-time rules -------------------------------------------------------------------------

REFUSED = [
    pytest.param(drop_field_key("name", "basis"), "name", "exactly one legal basis", id="no-basis"),
    pytest.param(set_field("name", "basis", {"law": "户口登记条例 第四条",
                                             "consent": {"purpose": "核验身份"}}),
                 "name", "exactly one legal basis", id="law-and-consent"),
    pytest.param(set_field("sex", "sensitivity", "state_secret"), "sex", "state-secret",
                 id="state-secret"),
    pytest.param(set_top("sharing", {"class": "not_shared"}), None,
                 "not_shared needs an explicit legal basis", id="not-shared-without-basis"),
    pytest.param(set_top("sharing", {"class": "conditional"}), None, "conditional sharing must state",
                 id="conditional-without-condition"),
    pytest.param(set_field("ethnicity", "basis", {"consent": {"purpose": "民族统计"}}), "ethnicity",
                 "separate consent", id="sensitive-on-consent-not-separate"),
    pytest.param(set_field("id_number", "format", "passport"), "id_number", "unknown format 'passport'",
                 id="unknown-format"),
    pytest.param(set_field("name", "mask", "blur"), "name", "unknown mask 'blur'", id="unknown-mask"),
    pytest.param(set_field("name", "colour", "red"), "name", "Extra inputs are not permitted",
                 id="unknown-field-key"),
    pytest.param(set_top("owner", "someone"), None, "owner: Extra inputs are not permitted",
                 id="unknown-top-level-key"),
    pytest.param(set_top("natural_key", ["passport_no"]), None,
                 "'passport_no' is referenced but is not a field", id="natural-key-not-a-field"),
    pytest.param(set_top("subject_key", None), None, "needs a subject_key", id="person-without-subject-key"),
    pytest.param(lambda raw: raw.update(subject="none", subject_key=None), "id_number",
                 "sensitive personal data needs a subject_key", id="sensitive-without-subject"),
    pytest.param(set_top("checks", [{"rule": "id_matches", "id": "id_number", "sex": "gender"}]), None,
                 "check id_matches: 'gender' is referenced but is not a field", id="check-names-no-field"),
    pytest.param(set_top("checks", [{"rule": "id_matches", "id": "id_number"}]), None,
                 "needs at least one of birth_date, sex, county", id="check-compares-nothing"),
    pytest.param(set_top("checks", [{"rule": "id_matches", "id": "name", "sex": "sex"}]), "name",
                 "check id_matches reads a field with format: cn_ric", id="check-reads-a-name"),
    pytest.param(set_top("checks", [{"rule": "id_matches", "id": "id_number",
                                     "birth_date": "registered_on", "sex": "ethnicity"}]), "ethnicity",
                 "check id_matches compares sex with a field of values with the GB/T 2261.1 codes",
                 id="check-sex-without-codes"),
    pytest.param(set_top("checks", [{"rule": "id_matches", "id": "id_number", "county": "address"}]),
                 "address", "compares county with a field of format: gb2260_shanxi",
                 id="check-county-not-a-code"),
    pytest.param(set_top("checks", [{"rule": "id_matches", "id": "id_number", "birth_date": "name"}]),
                 "name", "compares birth_date with a field of type: date", id="check-date-not-a-date"),
    pytest.param(set_top("checks", [{"rule": "same_person", "id": "id_number"}]), None,
                 "does not match any of the expected tags", id="check-unknown-rule"),
]


@pytest.mark.parametrize(("change", "field", "rule"), REFUSED)
def test_load_time_rule_refuses_with_file_field_and_rule(tmp_path, change, field, rule):
    path = write(tmp_path, mutated(change))
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    error = caught.value
    message = str(error)
    assert str(path) in message
    assert error.file == str(path)
    assert rule in error.rule and rule in message
    assert error.field == field
    if field is not None:
        assert f"field '{field}'" in message
    assert "Fix:" in message and error.fix


def test_invalid_yaml_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: household_registration\nfields: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert str(path) in str(caught.value)
    assert "not valid YAML" in caught.value.rule


def test_duplicate_dataset_id_across_two_files(tmp_path):
    for department in ("dept_a", "dept_b"):
        (tmp_path / department).mkdir()
        shutil.copy(SOURCE, tmp_path / department / "household_registration.yaml")
    with pytest.raises(ContractError) as caught:
        load_catalog(tmp_path)
    assert "'household_registration' is used twice" in caught.value.rule
    assert str(tmp_path / "dept_b" / "household_registration.yaml") in str(caught.value)


def test_catalog_of_distinct_ids_loads_every_file(tmp_path):
    for source in DEFAULT_CATALOG_DIR.rglob("*.yaml"):
        target = tmp_path / source.relative_to(DEFAULT_CATALOG_DIR)
        target.parent.mkdir(exist_ok=True)
        shutil.copy(source, target)
    assert list(load_catalog(tmp_path)) == sorted(CATALOG, key=lambda d: CATALOG[d].department.code)


def test_field_written_as_a_bare_string_is_a_contract_error(tmp_path):
    raw = mutated(lambda r: r["fields"].append("phone"))
    with pytest.raises(ContractError) as caught:
        load_contract(write(tmp_path, raw))
    assert f"fields.{len(BASE['fields'])}" in caught.value.rule
