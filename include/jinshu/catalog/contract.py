"""The contract model: one dataset's fields, legal bases, formats, sensitivity, sharing and opening.

A contract is the single source of truth for a dataset: the DAGs, tables,
row rules, masking and publication all read from it. Shapes only; the
regulation's load-time rules are in :mod:`jinshu.catalog.rules`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Sensitivity = Literal[
    "public", "internal", "personal", "sensitive_personal", "trade_secret", "state_secret"
]
IDENTIFIER = r"^[a-z][a-z0-9_]*$"


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
    description: str = ""  # what the field holds, in Chinese: shown in open-data schemas and pages
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
    # What the field holds across datasets (一数一源): a concept of the catalog's concepts.yaml;
    # ``authority``: this dataset is that concept's one authoritative source; ``from_authority``:
    # this dataset takes the value from the authority (not collected, not stored).
    concept: str | None = None
    authority: bool = False
    from_authority: bool = False

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


class QuasiIdentifier(_Model):
    """A field that could single a person out in combination with others (GB/T 37964): it is
    published generalized, at the first of its ``levels`` (see :mod:`jinshu.vocab.generalize`)
    and climbing them only as far as k-anonymity needs. No levels: published as stored."""

    field: str
    levels: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        return {"field": value} if isinstance(value, str) else value


class OpenSpec(_Model):
    class_: Literal["open", "conditional", "not_open"] = Field(alias="class")
    livelihood: bool = False
    already_disclosed: bool = False
    quasi_identifiers: tuple[QuasiIdentifier, ...] = ()
    k: int = Field(default=5, ge=2)
    # The share of records that may be suppressed before quasi-identifiers are generalized further.
    max_suppression: float = Field(default=0.05, ge=0, le=1)
    aggregate: Aggregate | None = None
    licence: str | None = None  # an SPDX id from jinshu.vocab.licences; required to open
    theme: str | None = None  # an EU data-theme code from jinshu.vocab.themes; required to open
    keywords: tuple[str, ...] = ()  # in Chinese, for the catalog and its search

    @property
    def qi_names(self) -> list[str]:
        return [q.field for q in self.quasi_identifiers]


class Limits(_Model):
    """Caps on one extract, so a broken or hostile file is quarantined instead of taking the
    worker down. The defaults fit honest government extracts; a contract raises one when its
    files need it."""

    max_file_mb: int = Field(default=2048, ge=1)  # the file as dropped
    max_rows: int = Field(default=50_000_000, ge=1)  # records (a province-wide extract: 35M)
    max_columns: int = Field(default=1000, ge=1)
    max_cells: int = Field(default=20_000_000, ge=1)  # an XLSX sheet's area, rows x columns
    max_cell_chars: int = Field(default=32_767, ge=1)  # Excel's own cap on one cell
    max_line_kb: int = Field(default=1024, ge=1)  # one CSV line
    max_inflate_ratio: int = Field(default=100, ge=2)  # XLSX part unpacked : packed
    max_memory_mb: int = Field(default=1024, ge=128)  # the XLSX reader's process


class Retention(_Model):
    """How long the platform keeps the copies it holds outside the central store, in days.

    ``raw_extract_days``: a department's file in the landing area, counted from the
    day its batch closed (loaded, quarantined or a repeat drop); ``quarantine_days``:
    a whole quarantined file's sealed copy under ``_quarantine/``, counted from the same
    day; ``stage_file_days``: a batch's stage files (clear values) while the batch is
    not closed, counted from their last write (a closed batch's are removed at once).
    """

    raw_extract_days: int = Field(default=30, ge=0)
    quarantine_days: int = Field(default=180, ge=0)
    stage_file_days: int = Field(default=2, ge=1)


class IdMatches(_Model):
    """The resident ID number (GB 11643) encodes the birth date (digits 7-14), the sex
    (17th digit: odd = male) and the county where it was first issued (digits 1-6):
    each field named here must agree with the record's own ID number."""

    rule: Literal["id_matches"]
    id: str
    birth_date: str | None = None
    sex: str | None = None
    county: str | None = None

    @model_validator(mode="after")
    def _names_a_part(self) -> IdMatches:
        if not self.parts:
            raise ValueError("id_matches needs at least one of birth_date, sex, county")
        return self

    @property
    def source(self) -> str:
        """The identifier field the other fields are checked against."""
        return self.id

    @property
    def parts(self) -> tuple[tuple[str, str], ...]:
        """(what the identifier encodes, the field that must agree with it)."""
        named = (("birth_date", self.birth_date), ("sex", self.sex), ("county", self.county))
        return tuple((part, name) for part, name in named if name)


class UsccMatchesRegion(_Model):
    """The unified social credit code (GB 32100) carries the registering authority's
    division code in characters 3-8: the named region field must agree with it."""

    rule: Literal["uscc_matches_region"]
    uscc: str
    region: str

    @property
    def source(self) -> str:
        return self.uscc

    @property
    def parts(self) -> tuple[tuple[str, str], ...]:
        return (("region", self.region),)


# A rule across the fields of one record, declared under ``checks:``.
Check = Annotated[IdMatches | UsccMatchesRegion, Field(discriminator="rule")]


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
    limits: Limits = Limits()
    retention: Retention = Retention()
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _names_resolve(self) -> Contract:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names repeat: {sorted(n for n in names if names.count(n) > 1)}")
        aggregate = self.open.aggregate
        grouped = (*aggregate.by, *aggregate.sum) if aggregate else ()
        for ref in (*self.natural_key, *self.open.qi_names, *grouped, self.subject_key):
            if ref is not None and ref not in names:
                raise ValueError(f"'{ref}' is referenced but is not a field")
        for check in self.checks:
            for ref in (check.source, *(name for _, name in check.parts)):
                if ref not in names:
                    raise ValueError(f"check {check.rule}: '{ref}' is referenced but is not a field")
        return self

    @cached_property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def stored_fields(self) -> list[FieldSpec]:
        """The fields whose values this dataset's table holds (not those taken from an authority)."""
        return [f for f in self.fields if not f.from_authority]

    @property
    def taken_fields(self) -> list[FieldSpec]:
        """The fields read from their concept's authority by subject key, never stored here."""
        return [f for f in self.fields if f.from_authority]

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


