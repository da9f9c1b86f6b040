"""The open-data part of a contract: refused at load unless it names a licence and a theme,
describes what it publishes and generalizes only what may be generalized."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import yaml

from jinshu.catalog import ContractError, load_contract
from jinshu.settings import DEFAULT_CATALOG_DIR

SOURCE = DEFAULT_CATALOG_DIR / "sx_minzheng" / "minimum_living_allowance.yaml"
BASE = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def field(raw: dict, name: str) -> dict:
    return next(f for f in raw["fields"] if f["name"] == name)


def refused(tmp_path, change: Callable[[dict], None]) -> ContractError:
    raw = copy.deepcopy(BASE)
    change(raw)
    path = tmp_path / "minimum_living_allowance.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    return caught.value


CASES = {
    "no-licence": (lambda r: r["open"].pop("licence"), None, "needs a known licence"),
    "unknown-licence": (lambda r: r["open"].update(licence="WTFPL"), None, "needs a known licence"),
    "no-theme": (lambda r: r["open"].pop("theme"), None, "needs a data theme"),
    "undescribed": (lambda r: field(r, "county_code").pop("description"), "county_code",
                    "needs a description"),
    "sensitive-qi": (lambda r: r["open"]["quasi_identifiers"].append({"field": "id_number"}),
                     "id_number", "never opens, not even generalized"),
    "wrong-level": (lambda r: r["open"]["quasi_identifiers"][0].update(levels=["year"]),
                    "county_code", "do not fit a division field"),
    "personal-as-stored": (lambda r: r["open"]["quasi_identifiers"].append({"field": "start_month"})
                           or field(r, "start_month").update(sensitivity="personal"),
                           "start_month", "published generalized, never as stored"),
    "disclosed-with-qis": (lambda r: r["open"].update(already_disclosed=True), "county_code",
                           "opens unconditionally"),
    "sum-of-text": (lambda r: r["open"]["aggregate"].update(sum=["name"]), "name", "not a number"),
}


@pytest.mark.parametrize(("change", "field_name", "rule"), CASES.values(), ids=list(CASES))
def test_open_data_rules_refuse_naming_file_field_and_fix(tmp_path, change, field_name, rule):
    error = refused(tmp_path, change)
    assert rule in str(error) and "Fix:" in str(error)
    assert error.field == field_name
    assert str(tmp_path) in str(error)


def test_the_shipped_open_contracts_load_with_their_own_licences():
    contract = load_contract(SOURCE)
    assert (contract.open.licence, contract.open.theme) == ("CC-BY-4.0", "SOCI")
    assert contract.open.quasi_identifiers[0].levels == ("county", "prefecture", "province")
