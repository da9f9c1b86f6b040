"""Concepts (一数一源): what a field means across datasets, and the one dataset that is its source.

``concepts.yaml``, at the top of the catalog folder, lists every concept a contract
field may name (``concept: person.address``) with its Chinese title, and the
thresholds of probabilistic matching for subjects without a reliable identifier
(``linkage``). A field naming a concept may add:

* ``authority: true``: this dataset is the concept's one authoritative source;
* ``from_authority: true``: this dataset takes the value from the authority instead
  of collecting it. Its ingest stores no copy, only the subject key (the link); the
  exchange and open data read the value from the authority's table.

A field naming a concept with neither *collects* it: where another dataset is the
authority, that is repeated collection, which the ``repeat_collection`` DAG measures.

Refused at load, each naming the file(s), the field and the fix (docs/regulation.md#concepts):
an unknown concept, a concept about another kind of subject, a second authority, one
concept in two fields of a dataset, a concept on the subject key (the key is the link),
an authority holding more than one record per subject, a field taken from a concept
without authority, a holder whose type differs from the authority's, and a taken field
that is required, part of the natural key, collected on consent, or read by a
cross-field check (its values are never in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jinshu.catalog.contract import Contract, FieldSpec
from jinshu.catalog.errors import ContractError

CONCEPTS_FILE = "concepts.yaml"
SUBJECTS = {"person": "person", "org": "organization"}  # a concept's prefix -> contract subject
Role = Literal["authority", "takes", "collects"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Concept(_Model):
    name: str = Field(pattern=r"^(person|org)\.[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)

    @property
    def subject(self) -> str:
        """The contract subject a concept's holders are about: person or organization."""
        return SUBJECTS[self.name.split(".", 1)[0]]


class Linkage(_Model):
    """Probabilistic matching of subjects without a reliable identifier: a pair at or above
    ``match_threshold`` is the same subject; from ``review_threshold`` up to it, uncertain
    (reported apart, for a person to decide)."""

    match_threshold: float = Field(gt=0, le=1)
    review_threshold: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _band(self) -> Linkage:
        if self.review_threshold >= self.match_threshold:
            raise ValueError("review_threshold must be below match_threshold (the uncertain band)")
        return self


class ConceptList(_Model):
    concepts: tuple[Concept, ...] = Field(min_length=1)
    linkage: Linkage

    @cached_property
    def by_name(self) -> dict[str, Concept]:
        return {c.name: c for c in self.concepts}

    @model_validator(mode="after")
    def _distinct(self) -> ConceptList:
        names = [c.name for c in self.concepts]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"concepts listed twice: {repeated}")
        return self


def load_concepts(catalog_dir: Path) -> ConceptList | None:
    """The catalog's concept list (None when the catalog has no ``concepts.yaml``)."""
    path = catalog_dir / CONCEPTS_FILE
    if not path.exists():
        return None
    try:
        return ConceptList.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ContractError(str(path), None, f"not valid YAML ({exc})", "fix the YAML syntax") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "concepts"
        raise ContractError(str(path), None, f"{where}: {err['msg']}",
                            "correct the concept list as its header comment says") from exc


@dataclass(frozen=True)
class Holder:
    """One dataset's field holding a concept, and how: authority, takes it, or collects it."""

    concept: str
    contract: Contract
    field: FieldSpec

    @property
    def role(self) -> Role:
        if self.field.authority:
            return "authority"
        return "takes" if self.field.from_authority else "collects"


def holders(contracts: dict[str, Contract]) -> list[Holder]:
    """Every field naming a concept, in catalog order."""
    return [Holder(f.concept, c, f) for c in contracts.values() for f in c.fields if f.concept]


def authorities(contracts: dict[str, Contract]) -> dict[str, Holder]:
    """Concept -> its authoritative holder (the catalog rules allow one)."""
    return {h.concept: h for h in holders(contracts) if h.role == "authority"}


def source_of(contracts: dict[str, Contract], contract: Contract, field: str) -> Holder:
    """Where a field taken from its authority is read: the authority's dataset and field."""
    spec = contract.by_name[field]
    found = authorities(contracts).get(spec.concept or "")
    if not spec.from_authority or found is None:
        raise KeyError(f"{contract.id}.{field} does not take its value from an authority")
    return found


# --- load-time rules --------------------------------------------------------------------------


def check_fields(contract: Contract, file: str) -> None:
    """The rules one contract can break on its own."""
    named: dict[str, str] = {}
    for f in contract.fields:
        if (f.authority or f.from_authority) and not f.concept:
            flag = "authority" if f.authority else "from_authority"
            raise ContractError(file, f.name, f"{flag} needs the concept it is about",
                                "add concept: <a name from concepts.yaml>, or remove the flag")
        if not f.concept:
            continue
        if f.authority and f.from_authority:
            raise ContractError(file, f.name, "a field is either its concept's authority or takes it "
                                "from the authority, not both",
                                "keep authority: true or from_authority: true")
        if f.concept in named:
            raise ContractError(file, f.name, f"concept '{f.concept}' is already held by field "
                                f"'{named[f.concept]}'", "name each concept in one field only")
        named[f.concept] = f.name
        if f.name == contract.subject_key:
            raise ContractError(file, f.name, "the subject key is the link between datasets, not a "
                                "concept", "remove concept: from the subject key field")
        if f.authority and tuple(contract.natural_key) != (contract.subject_key,):
            raise ContractError(file, f.name, f"the authority for '{f.concept}' must hold one record "
                                f"per subject (natural_key: [{contract.subject_key}])",
                                "declare the authority in a dataset keyed by its subject alone")
        if f.from_authority:
            _check_taken(contract, f, file)


def _check_taken(contract: Contract, f: FieldSpec, file: str) -> None:
    """A taken field's values never reach the batch: nothing may need them there."""
    refusal = None
    if f.required:
        refusal = ("a field taken from its authority is not collected, so it cannot be required",
                   "remove required: true")
    elif f.name in contract.natural_key:
        refusal = ("a field taken from its authority cannot be part of the natural key",
                   "key the dataset on fields it collects")
    elif f.needs_consent:
        refusal = ("a field collected on consent cannot be taken from the authority (the consent is "
                   "to this department's collection)",
                   "cite the statute that lets this department use the value, or collect it")
    elif any(f.name in (c.source, *(n for _, n in c.parts)) for c in contract.checks):
        refusal = ("a cross-field check reads this field, but a taken field has no value in the "
                   "batch", "remove the field from checks: or collect it")
    if refusal:
        raise ContractError(file, f.name, refusal[0], refusal[1])


def check_catalog(found: list[tuple[str, Contract]], listed: ConceptList | None,
                  concepts_file: str) -> None:
    """The rules across contracts: known concepts, one authority each, holders that agree."""
    known = listed.by_name if listed else {}
    first: dict[str, tuple[str, Contract, FieldSpec]] = {}
    for file, contract in found:
        for f in contract.fields:
            if not f.concept:
                continue
            concept = known.get(f.concept)
            if concept is None:
                raise ContractError(
                    file, f.name, f"unknown concept '{f.concept}' (not in {concepts_file})",
                    f"use one of {sorted(known)}, or add the concept with its title to {concepts_file}"
                    if known else f"create {concepts_file} listing the catalog's concepts")
            if concept.subject != contract.subject:
                raise ContractError(
                    file, f.name, f"concept '{f.concept}' is about a {concept.subject}, but this "
                    f"dataset's subject is {contract.subject}",
                    "name a concept about the dataset's subject, or remove concept:")
            if f.authority:
                if f.concept in first:
                    other_file, _, other = first[f.concept]
                    raise ContractError(
                        file, f.name, f"concept '{f.concept}' has a second authority: {other_file}, "
                        f"field '{other.name}' is already its authority (一数一源: one authoritative "
                        "source per concept)",
                        "keep authority: true in one of the two contracts; the other dataset takes "
                        "the value from it (from_authority: true) or collects it")
                first[f.concept] = (file, contract, f)
    for file, contract in found:
        for f in contract.fields:
            if f.concept and not f.authority:
                _check_holder(file, contract, f, first.get(f.concept))


def _check_holder(file: str, contract: Contract, f: FieldSpec,
                  authority: tuple[str, Contract, FieldSpec] | None) -> None:
    if authority is None:
        if f.from_authority:
            raise ContractError(file, f.name, f"no dataset is the authority for '{f.concept}', so "
                                "there is nothing to take the value from",
                                "collect it (remove from_authority), or declare its authority")
        return
    other_file, _, source = authority
    where = f"{other_file}, field '{source.name}'"
    if f.type != source.type:
        raise ContractError(file, f.name, f"concept '{f.concept}' is type {f.type} here but "
                            f"{source.type} at its authority ({where})",
                            f"declare type: {source.type}, as the authority does")
