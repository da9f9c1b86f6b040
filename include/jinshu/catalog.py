"""The catalog: one YAML contract per dataset, validated on load.

A contract is the single source of truth for a dataset: its fields and their
legal basis, formats, sensitivity, sharing class and open class. The DAGs,
tables, row rules, masking and publication all read from it.

Load-time rules from the regulation (REFERENCE §1, §3, §4):

* every field names a statute or the subject's consent (with its purpose);
  sensitive personal data collected on consent needs separate consent;
* a state-secret field never enters the platform;
* ``not_shared`` needs an explicit legal basis.

A contract that breaks one fails with :class:`ContractError`, naming the
file, the field and the rule.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jinshu import formats
from jinshu.mask import MASKS

Sensitivity = Literal[
    "public", "internal", "personal", "sensitive_personal", "trade_secret", "state_secret"
]
PERSONAL = frozenset({"personal", "sensitive_personal"})
IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class ContractError(ValueError):
    """A contract breaks a rule. Names the file, the field and the rule."""

    def __init__(self, file: str, field: str | None, rule: str, fix: str) -> None:
        self.file, self.field, self.rule, self.fix = file, field, rule, fix
        where = f"{file}, field '{field}'" if field else file
        super().__init__(f"{where}: {rule}. Fix: {fix}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConsentBasis(_Model):
    purpose: str = Field(min_length=2)
    separate: bool = False


class Basis(_Model):
    """Either a statute citation (``law``) or the subject's ``consent``."""

    law: str | None = None
    consent: ConsentBasis | None = None


class FieldSpec(_Model):
    name: str = Field(pattern=IDENTIFIER)
    title: str
    type: Literal["string", "integer", "decimal", "date"] = "string"
    format: str | None = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: dict[str, str] | None = None  # code -> label; labels are accepted on input
    minimum: float | None = None
    maximum: float | None = None
    sensitivity: Sensitivity = "public"
    basis: Basis | None = None
    mask: str | None = None  # how the value is masked when it leaves the store; see jinshu.mask

    @property
    def mask_kind(self) -> str:
        """The masking function: declared, else derived from the format or type."""
        if self.mask:
            return self.mask
        by_format = {"cn_ric": "cn_ric", "mobile": "mobile"}
        if self.format in by_format:
            return by_format[self.format]
        return "date_year" if self.type == "date" else "generic"

    @property
    def is_personal(self) -> bool:
        return self.sensitivity in PERSONAL

    @property
    def needs_consent(self) -> bool:
        return self.basis is not None and self.basis.consent is not None


class Department(_Model):
    code: str = Field(pattern=IDENTIFIER)
    name: str


class Sharing(_Model):
    class_: Literal["unconditional", "conditional", "not_shared"] = Field(alias="class")
    condition: str | None = None
    legal_basis: str | None = None


class Aggregate(_Model):
    """Open a person-level dataset as counts and sums per group, not as records."""

    by: tuple[str, ...] = Field(min_length=1)
    sum: tuple[str, ...] = ()


class OpenSpec(_Model):
    class_: Literal["open", "conditional", "not_open"] = Field(alias="class")
    livelihood: bool = False
    already_disclosed: bool = False
    quasi_identifiers: tuple[str, ...] = ()
    k: int = Field(default=5, ge=2)
    aggregate: Aggregate | None = None


class Contract(_Model):
    id: str = Field(pattern=IDENTIFIER)
    title: str
    description: str = ""
    department: Department
    subject: Literal["person", "organization", "none"]
    subject_key: str | None = None
    natural_key: tuple[str, ...]
    update_cycle: Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
    sharing: Sharing
    open: OpenSpec
    fields: tuple[FieldSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_resolve(self) -> Contract:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names repeat: {sorted(n for n in names if names.count(n) > 1)}")
        aggregate = self.open.aggregate
        grouped = (*aggregate.by, *aggregate.sum) if aggregate else ()
        for ref in (*self.natural_key, *self.open.quasi_identifiers, *grouped, self.subject_key):
            if ref is not None and ref not in names:
                raise ValueError(f"'{ref}' is referenced but is not a field")
        return self

    @cached_property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def table(self) -> str:
        """The dataset's table in the central store."""
        return f"ds_{self.id}"

    @property
    def asset_uri(self) -> str:
        return f"jinshu://central/{self.id}"

    @property
    def landing_prefix(self) -> str:
        """Where the department drops extracts: ``<dept>/<dataset>/``."""
        return f"{self.department.code}/{self.id}/"

    @property
    def is_shareable(self) -> bool:
        return self.sharing.class_ != "not_shared"

    @property
    def is_open(self) -> bool:
        return self.open.class_ == "open"


def _check_rules(contract: Contract, file: str) -> None:
    """The regulation's load-time rules, each failure naming file, field and rule."""
    for f in contract.fields:
        if f.sensitivity == "state_secret":
            raise ContractError(
                file, f.name, "a state-secret field may not enter the platform (REFERENCE §3)",
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
    return contract


def load_catalog(catalog_dir: Path) -> dict[str, Contract]:
    """Every contract under ``catalog_dir``, by dataset id, in sorted order."""
    contracts: dict[str, Contract] = {}
    for path in sorted(catalog_dir.rglob("*.yaml")):
        contract = load_contract(path)
        if contract.id in contracts:
            raise ContractError(str(path), None, f"dataset id '{contract.id}' is used twice",
                                "give each contract its own id")
        contracts[contract.id] = contract
    return contracts
