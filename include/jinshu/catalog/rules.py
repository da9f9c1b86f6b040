"""Loading contracts, and the regulation's load-time rules (docs/regulation.md#catalog).

* every field names a statute or the subject's consent (with its purpose);
  sensitive personal data collected on consent needs separate consent;
* a state-secret field never enters the platform;
* ``not_shared`` needs an explicit legal basis; conditional sharing states its condition;
* a cross-field check names fields of the kind it reads (an ID number, a date, ...);
* an open dataset names its licence and theme, describes every field it publishes, and
  generalizes only personal or public quasi-identifiers, along their kind's levels
  (docs/regulation.md#open-data).

A contract that breaks one fails with :class:`ContractError`, naming the
file, the field and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError

from jinshu.catalog import concepts
from jinshu.catalog.contract import Contract, FieldSpec
from jinshu.catalog.errors import ContractError
from jinshu.vocab import formats
from jinshu.vocab.generalize import kind_of, levels_for
from jinshu.vocab.licences import LICENCES
from jinshu.vocab.mask import MASKS
from jinshu.vocab.themes import THEMES


def _check_rules(contract: Contract, file: str) -> None:
    """The regulation's load-time rules, each failure naming file, field and rule."""
    for f in contract.fields:
        if f.sensitivity == "state_secret":
            raise ContractError(
                file, f.name,
                "a state-secret field may not enter the platform (docs/regulation.md#state-secrets)",
                "remove the field; state secrets stay outside the sharing platforms",
            )
        basis = f.basis
        if basis is None or (basis.law is None) == (basis.consent is None):
            raise ContractError(
                file, f.name, "every field needs exactly one legal basis: a statute or consent",
                "add basis: {law: '<statute> 第N条'} or basis: {consent: {purpose: '<why>'}}",
            )
        if basis.consent and f.sensitivity == "sensitive_personal" and not basis.consent.separate:
            raise ContractError(
                file, f.name, "sensitive personal data on consent needs separate consent (PIPL art. 29)",
                "set basis.consent.separate: true and ask for it on its own",
            )
        if f.mask is not None and f.mask not in MASKS:
            raise ContractError(file, f.name, f"unknown mask '{f.mask}'", f"use one of {sorted(MASKS)}")
        if f.format is not None and f.format not in formats.REGISTRY:
            raise ContractError(
                file, f.name, f"unknown format '{f.format}'",
                f"use one of {sorted(formats.REGISTRY)}",
            )
    if contract.sharing.class_ == "not_shared" and not contract.sharing.legal_basis:
        raise ContractError(
            file, None, "not_shared needs an explicit legal basis (Decree 809)",
            "add sharing.legal_basis citing the law, or share it conditionally",
        )
    if contract.sharing.class_ == "conditional" and not contract.sharing.condition:
        raise ContractError(
            file, None, "conditional sharing must state its condition",
            "add sharing.condition describing who may use it and for what",
        )
    if contract.subject != "none" and contract.subject_key is None:
        raise ContractError(
            file, None, f"a dataset about a {contract.subject} needs a subject_key",
            "set subject_key to the field that identifies the subject (ID number or USCC)",
        )
    sensitive = next((f for f in contract.fields if f.sensitivity == "sensitive_personal"), None)
    if sensitive is not None and contract.subject_key is None:
        raise ContractError(
            file, sensitive.name, "sensitive personal data needs a subject_key: its encrypted "
            "values are bound to the row's subject pseudonym",
            "set subject and subject_key to the person the record is about",
        )


_SOURCE_FORMAT = {"id_matches": "cn_ric", "uscc_matches_region": "uscc"}
_PART_KIND: dict[str, tuple[str, Callable[[FieldSpec], bool]]] = {
    "birth_date": ("type: date", lambda f: f.type == "date"),
    "sex": ("values with the GB/T 2261.1 codes 1 (男) and 2 (女)",
            lambda f: f.values is not None and {"1", "2"} <= set(f.values)),
    "county": ("format: gb2260_shanxi", lambda f: f.format == "gb2260_shanxi"),
    "region": ("format: gb2260_shanxi", lambda f: f.format == "gb2260_shanxi"),
}


def _check_checks(contract: Contract, file: str) -> None:
    """Each cross-field check reads an identifier and compares fields of the right kind."""
    for check in contract.checks:
        source = contract.by_name[check.source]
        wanted = _SOURCE_FORMAT[check.rule]
        if source.format != wanted:
            raise ContractError(
                file, source.name, f"check {check.rule} reads a field with format: {wanted}",
                f"name the {wanted} field in the check, or give {source.name} format: {wanted}",
            )
        for part, name in check.parts:
            what, fits = _PART_KIND[part]
            if not fits(contract.by_name[name]):
                raise ContractError(
                    file, name, f"check {check.rule} compares {part} with a field of {what}",
                    f"declare {what} on {name}, or name another field in the check",
                )


def _check_quasi_identifiers(contract: Contract, file: str) -> None:
    spec = contract.open
    if spec.quasi_identifiers and spec.already_disclosed:
        raise ContractError(
            file, spec.quasi_identifiers[0].field, "an already-disclosed dataset opens "
            "unconditionally: it declares no quasi-identifiers (its personal fields are removed)",
            "remove open.quasi_identifiers, or open.already_disclosed if it was never disclosed")
    for qi in spec.quasi_identifiers:
        f = contract.by_name[qi.field]
        if f.sensitivity not in ("public", "personal"):
            raise ContractError(
                file, f.name, f"a {f.sensitivity} field never opens, not even generalized",
                "remove it from open.quasi_identifiers")
        kind = kind_of(f.type, f.format, f.mask)
        unknown = [level for level in qi.levels if level not in levels_for(kind)]
        if unknown:
            raise ContractError(
                file, f.name, f"generalization level(s) {unknown} do not fit a {kind} field",
                f"use levels among {list(levels_for(kind))}, least general first")
        if f.sensitivity == "personal" and (not qi.levels or qi.levels[0] == "exact") \
                and not f.values:
            raise ContractError(
                file, f.name, "a personal quasi-identifier is published generalized, never as "
                "stored", f"give it levels, e.g. {list(levels_for(kind)[1:2])}")


def _check_open(contract: Contract, file: str) -> None:
    """An open dataset: its licence and theme, a description per published field, its
    quasi-identifiers (docs/regulation.md#open-data)."""
    spec = contract.open
    _check_quasi_identifiers(contract, file)
    if not contract.is_open:
        return
    if spec.licence not in LICENCES:
        raise ContractError(file, None, f"an open dataset needs a known licence, not {spec.licence!r}",
                            f"set open.licence to one of {sorted(LICENCES)}")
    if spec.theme not in THEMES:
        raise ContractError(file, None, f"an open dataset needs a data theme, not {spec.theme!r}",
                            f"set open.theme to one of {sorted(THEMES)}")
    aggregate = spec.aggregate
    for name in aggregate.sum if aggregate else ():
        if contract.by_name[name].type not in ("integer", "decimal"):
            raise ContractError(file, name, "open.aggregate sums a field that is not a number",
                                "sum integer or decimal fields only")
    opened = {*spec.qi_names, *(aggregate.by if aggregate else ())}
    for f in contract.fields:
        published = f.name in opened if aggregate else f.sensitivity == "public" or f.name in opened
        if published and not f.description.strip():
            raise ContractError(file, f.name, "a field published as open data needs a description",
                                "add description: what the field holds, in Chinese")


def load_contract(path: Path) -> Contract:
    """Read and validate one contract file."""
    file = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError(file, None, f"not valid YAML ({exc})", "fix the YAML syntax") from exc
    try:
        contract = Contract.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        field = None
        if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
            fields = raw.get("fields") or []
            entry = fields[loc[1]] if loc[1] < len(fields) else None
            field = entry.get("name") if isinstance(entry, dict) else None
        where = ".".join(str(p) for p in loc) or "contract"
        raise ContractError(
            file, field, f"{where}: {err['msg']}", "correct the value as the contract schema says"
        ) from exc
    _check_rules(contract, file)
    _check_checks(contract, file)
    concepts.check_fields(contract, file)
    _check_open(contract, file)
    return contract


def load_catalog(catalog_dir: Path) -> dict[str, Contract]:
    """Every contract under ``catalog_dir``, by dataset id, in sorted order, checked together
    against the catalog's concept list (``concepts.yaml`` beside the department folders)."""
    contracts: dict[str, Contract] = {}
    found: list[tuple[str, Contract]] = []
    concepts_path = catalog_dir / concepts.CONCEPTS_FILE
    for path in sorted(catalog_dir.rglob("*.yaml")):
        if path == concepts_path:
            continue
        contract = load_contract(path)
        if contract.id in contracts:
            raise ContractError(str(path), None, f"dataset id '{contract.id}' is used twice",
                                "give each contract its own id")
        contracts[contract.id] = contract
        found.append((str(path), contract))
    concepts.check_catalog(found, concepts.load_concepts(catalog_dir), str(concepts_path))
    return contracts
