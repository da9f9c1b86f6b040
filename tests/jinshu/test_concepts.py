"""Concepts in the catalog (一数一源): one list, one authority per concept, refusals that say the fix.

Each refusal names the file, the field and the rule, and, for a second authority,
the file of the first one too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from jinshu.catalog import ContractError, load_catalog, load_concepts
from jinshu.catalog.concepts import CONCEPTS_FILE, authorities
from jinshu.settings import DEFAULT_CATALOG_DIR
from tests.helpers import catalog_copy

HOUSEHOLD = "sx_gongan/household_registration.yaml"
SOCIAL = "sx_renshe/social_insurance_enrollment.yaml"
ALLOWANCE = "sx_minzheng/minimum_living_allowance.yaml"
ENTERPRISE = "sx_scjg/enterprise_registration.yaml"


def field(name: str, **changes: object) -> Callable[[dict], None]:
    """Set (or, with None, remove) keys of one field of a contract."""
    def change(doc: dict) -> None:
        spec = next(f for f in doc["fields"] if f["name"] == name)
        for key, value in changes.items():
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
    return change


def top(**changes: object) -> Callable[[dict], None]:
    return lambda doc: doc.update(changes)


def both(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        for c in changes:
            c(doc)
    return change


def edit(path: Path, change: Callable[[dict], None]) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def catalog_with(tmp_path: Path, file: str, change: Callable[[dict], None]) -> Path:
    return catalog_copy(tmp_path / "catalog", file, change)


def test_the_shipped_catalog_names_one_authority_per_concept(contracts):
    sources = {concept: (h.contract.id, h.field.name) for concept, h in authorities(contracts).items()}
    assert {c: d for c, (d, _) in sources.items() if c.startswith("person.")} == {
        "person.name": "household_registration", "person.sex": "household_registration",
        "person.birth_date": "household_registration", "person.ethnicity": "household_registration",
        "person.address": "household_registration"}
    assert {d for c, (d, _) in sources.items() if c.startswith("org.")} == {"enterprise_registration"}
    listed = load_concepts(DEFAULT_CATALOG_DIR)
    assert {f.concept for c in contracts.values() for f in c.fields if f.concept} <= set(listed.by_name)
    assert all(c.title for c in listed.concepts)
    assert listed.linkage.review_threshold < listed.linkage.match_threshold


REFUSED = [
    pytest.param(SOCIAL, field("name", concept="person.nickname"), "name",
                 "unknown concept 'person.nickname'", id="unknown-concept"),
    pytest.param(ENTERPRISE, field("address", concept="person.address"), "address",
                 "is about a person, but this dataset's subject is organization",
                 id="concept-of-another-subject"),
    pytest.param(ALLOWANCE, field("name", authority=True), "name",
                 "concept 'person.name' has a second authority", id="second-authority"),
    pytest.param(SOCIAL, field("sex", authority=True), "sex",
                 "must hold one record per subject", id="authority-with-several-records-per-subject"),
    pytest.param(SOCIAL, field("phone", from_authority=True), "phone",
                 "no dataset is the authority for 'person.phone'", id="taken-without-authority"),
    pytest.param(ALLOWANCE, field("name", type="date"), "name",
                 "is type date here but string at its authority", id="type-differs-from-authority"),
    pytest.param(SOCIAL, field("name", from_authority=True), "name",
                 "not collected, so it cannot be required", id="taken-and-required"),
    pytest.param(SOCIAL, both(field("name", from_authority=True, required=None),
                              top(natural_key=["id_number", "insurance_type", "name"])), "name",
                 "cannot be part of the natural key", id="taken-in-the-natural-key"),
    pytest.param(ALLOWANCE, field("name", from_authority=True, required=None,
                                  basis={"consent": {"purpose": "核对户主"}}), "name",
                 "collected on consent cannot be taken", id="taken-on-consent"),
    pytest.param(SOCIAL, field("sex", from_authority=True), "sex",
                 "a cross-field check reads this field", id="taken-and-checked"),
    pytest.param(HOUSEHOLD, field("id_number", concept="person.phone"), "id_number",
                 "the subject key is the link between datasets, not a concept", id="concept-on-subject-key"),
    pytest.param(HOUSEHOLD, field("county_code", authority=True), "county_code",
                 "authority needs the concept it is about", id="authority-without-concept"),
    pytest.param(HOUSEHOLD, field("name", from_authority=True), "name",
                 "either its concept's authority or takes it", id="authority-and-taken"),
    pytest.param(HOUSEHOLD, field("address", concept="person.name"), "address",
                 "concept 'person.name' is already held by field 'name'", id="one-concept-two-fields"),
]


@pytest.mark.parametrize(("file", "change", "name", "rule"), REFUSED)
def test_a_concept_rule_refuses_naming_file_field_rule_and_fix(tmp_path, file, change, name, rule):
    folder = catalog_with(tmp_path, file, change)
    with pytest.raises(ContractError) as caught:
        load_catalog(folder)
    error, message = caught.value, str(caught.value)
    assert error.file == str(folder / file) and str(folder / file) in message
    assert error.field == name and f"field '{name}'" in message
    assert rule in error.rule and rule in message
    assert "Fix:" in message and error.fix


def test_a_second_authority_names_both_files_and_the_fix(tmp_path):
    folder = catalog_with(tmp_path, ALLOWANCE, field("name", authority=True))
    with pytest.raises(ContractError) as caught:
        load_catalog(folder)
    message = str(caught.value)
    assert f"{folder / HOUSEHOLD}, field 'name' is already its authority" in message
    assert "一数一源" in message
    assert "keep authority: true in one of the two contracts" in caught.value.fix


def test_a_concept_needs_the_catalogs_concept_list(tmp_path):
    folder = catalog_with(tmp_path, HOUSEHOLD, lambda doc: None)
    (folder / CONCEPTS_FILE).unlink()
    with pytest.raises(ContractError) as caught:
        load_catalog(folder)
    assert caught.value.file == str(folder / HOUSEHOLD) and caught.value.field == "name"
    assert f"create {folder / CONCEPTS_FILE}" in caught.value.fix


@pytest.mark.parametrize(("change", "rule"), [
    (lambda doc: doc["linkage"].update(review_threshold=0.99), "review_threshold must be below"),
    (lambda doc: doc["concepts"].append({"name": "Person.Name", "title": "姓名"}), "should match pattern"),
    (lambda doc: doc["concepts"].append({"name": "person.name", "title": "姓名"}),
     "concepts listed twice: ['person.name']"),
], ids=["uncertain-band-inverted", "bad-name", "listed-twice"])
def test_a_broken_concept_list_is_refused_naming_its_file(tmp_path, change, rule):
    folder = catalog_with(tmp_path, HOUSEHOLD, lambda doc: None)
    edit(folder / CONCEPTS_FILE, change)
    with pytest.raises(ContractError) as caught:
        load_catalog(folder)
    assert caught.value.file == str(folder / CONCEPTS_FILE)
    assert rule in caught.value.rule and "Fix:" in str(caught.value)


def test_a_taken_field_that_breaks_no_rule_loads(tmp_path):
    folder = catalog_with(tmp_path, SOCIAL, field("name", from_authority=True, required=None))
    social = load_catalog(folder)["social_insurance_enrollment"]
    assert [f.name for f in social.taken_fields] == ["name"]
    assert "name" not in [f.name for f in social.stored_fields]
