"""What a contract change does to its stored dataset table: the steps, or why it cannot.

Pure: a contract and a description of the live table (:class:`StoredTable`, no
values) in, a :class:`Plan` out. One row per field decides:

* a field the table lacks is **added** (a nullable column; with its blind index
  when it is ``sensitive_personal``);
* a column the contract no longer declares is **retired**: no longer written,
  its column and values kept and recorded in ``retired_fields``; a retired
  field the contract declares again is **reinstated**;
* a string field that becomes ``sensitive_personal`` is **encrypted** in place
  (with its blind index); one that stops being so is **decrypted** in place
  (its blind index dropped);
* a field the dataset now takes from its concept's authority (``from_authority``)
  is **unlinked**: its column (and blind index) dropped with the stored copy, since
  the authority holds the values; one collected again is **added** back, empty.

Refused, each naming the dataset, the field and what to do: a changed natural
key, a changed type of stored values, and a sensitivity change that would change
either (a non-string field, or a natural-key field stored through its blind index).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from jinshu.catalog import Contract, FieldSpec
from jinshu.protect import policy
from jinshu.protect.pseudonyms import SUBJECT_KEY

LINEAGE = frozenset({"_record_hash", SUBJECT_KEY, "_batch_id", "_source_row", "_acquired_at",
                     "_valid_from", "_valid_to"})
INDEX_PREFIX = "_bidx_"
Action = Literal["add", "retire", "reinstate", "encrypt", "decrypt", "unlink"]
# How a field's values are stored: its type, or text (envelopes) when encrypted.
SEALED_KIND = "string"


@dataclass(frozen=True)
class StoredTable:
    """A live dataset table as the store describes it (column kinds, never values)."""

    name: str
    columns: Mapping[str, str]  # column -> string | integer | decimal | date | other
    key: tuple[str, ...]  # the columns of its natural-key constraint
    sealed: frozenset[str]  # field columns whose stored values are AES-GCM envelopes
    clear: frozenset[str]  # field columns holding values in the clear
    retired: frozenset[str]  # fields recorded in ``retired_fields``


@dataclass(frozen=True)
class Step:
    action: Action
    field: str
    kind: str  # the column's kind (for ``add``)
    index: str | None  # the blind-index column added (add, encrypt) or dropped (decrypt)

    def describe(self, contract: Contract) -> str:
        """One line for people: what the step does to the stored data (no values)."""
        column = f"{contract.table}.{self.field}"
        index = f" and its blind index {self.index}" if self.index else ""
        return {
            "add": f"add column {column} ({self.kind}, empty for stored rows){index}",
            "retire": f"retire {column}: no longer written; column and values kept "
                      "(recorded in retired_fields)",
            "reinstate": f"reinstate {column}: written again from the next batch",
            "encrypt": f"encrypt the stored values of {column} in place (AES-256-GCM){index}",
            "decrypt": f"decrypt the stored values of {column} in place{index and ', drop'}{index}",
            "unlink": f"drop column {column}{index} with its stored copy: {contract.id} takes "
                      "this field from its concept's authority (the authority keeps the values)",
        }[self.action]


@dataclass(frozen=True)
class Plan:
    dataset: str
    table: str
    steps: tuple[Step, ...]
    refusals: tuple[str, ...]  # each names the dataset, the field and what to do

    @property
    def in_step(self) -> bool:
        return not self.steps and not self.refusals


def _sealed(spec: FieldSpec) -> bool:
    return spec.sensitivity == policy.ENCRYPTED


def stored_kind(spec: FieldSpec) -> str:
    """How ``spec``'s values are stored: text envelopes when encrypted, else its type."""
    return SEALED_KIND if _sealed(spec) else spec.type


def _key_fields(contract: Contract, key_columns: tuple[str, ...]) -> tuple[str, ...]:
    """The fields behind a stored key: a blind index stands for its field."""
    def field_of(column: str) -> str:
        if column == SUBJECT_KEY:
            return contract.subject_key or column
        return column.removeprefix(INDEX_PREFIX)
    return tuple(field_of(c) for c in key_columns)


def _key_refusal(contract: Contract, stored: StoredTable) -> list[str]:
    were = _key_fields(contract, stored.key)
    if not stored.key or were == tuple(contract.natural_key):
        return []
    return [f"dataset {contract.id}: the natural key changes from ({', '.join(were)}) to "
            f"({', '.join(contract.natural_key)}); stored rows are identified by it, so they "
            "cannot be migrated in place. Fix: keep natural_key as it was, or declare the new "
            "shape as a new dataset id and ingest its extracts there"]


def _sealing_step(spec: FieldSpec, contract: Contract, stored: StoredTable) -> Step | str | None:
    """Encrypt or decrypt in place when the stored form differs from the contract's."""
    want = _sealed(spec)
    index = policy.blind_index_column(contract, spec.name)
    own_index = None if index == SUBJECT_KEY else index
    values_differ = spec.name in (stored.clear if want else stored.sealed)
    index_differs = own_index is not None and (own_index in stored.columns) != want
    if not values_differ and not index_differs:
        return None
    change = "to sensitive_personal" if want else f"from sensitive_personal to {spec.sensitivity}"
    where = f"dataset {contract.id}, field {spec.name}"
    if spec.type != SEALED_KIND:
        return (f"{where}: its sensitivity changes {change}, which changes how its stored "
                f"{spec.type} values are kept (an envelope is text). Fix: keep its sensitivity, "
                "or add a new field with the new sensitivity and retire this one")
    if spec.name in contract.natural_key and own_index is not None:
        return (f"{where}: its sensitivity changes {change}, but it is part of the natural key "
                "(stored rows are matched on it). Fix: keep its sensitivity, or declare the new "
                "shape as a new dataset id")
    return Step("encrypt" if want else "decrypt", spec.name, SEALED_KIND, own_index)


def _field_plan(spec: FieldSpec, contract: Contract, stored: StoredTable) -> list[Step | str]:
    if spec.from_authority:  # read from the authority: no column here
        if spec.name not in stored.columns:
            return []
        index = f"{INDEX_PREFIX}{spec.name}"
        return [Step("unlink", spec.name, stored.columns[spec.name],
                     index if index in stored.columns else None)]
    if spec.name not in stored.columns:
        index = policy.blind_index_column(contract, spec.name)
        sealed = _sealed(spec)
        return [Step("add", spec.name, stored_kind(spec),
                     index if sealed and index != SUBJECT_KEY else None)]
    out: list[Step | str] = []
    if spec.name in stored.retired:
        out.append(Step("reinstate", spec.name, stored.columns[spec.name], None))
    sealing = _sealing_step(spec, contract, stored)
    if sealing is not None:
        return [*out, sealing]
    want, have = stored_kind(spec), stored.columns[spec.name]
    if have != want:
        out.append(f"dataset {contract.id}, field {spec.name}: its type changes from {have} to "
                   f"{want}, but the store holds {have} values in {stored.name}.{spec.name}. "
                   f"Fix: keep type: {have}, or add a new field with the new type and retire "
                   "this one")
    return out


def _retirements(contract: Contract, stored: StoredTable) -> list[Step]:
    declared = set(contract.field_names)
    return [Step("retire", column, kind, None) for column, kind in stored.columns.items()
            if column not in declared and column not in LINEAGE
            and not column.startswith(INDEX_PREFIX) and column not in stored.retired]


def diff(contract: Contract, stored: StoredTable) -> Plan:
    """The steps that bring ``stored`` to ``contract``, and what cannot be migrated."""
    found: list[Step | str] = [*_key_refusal(contract, stored)]
    for spec in contract.fields:
        found += _field_plan(spec, contract, stored)
    found += _retirements(contract, stored)
    return Plan(contract.id, contract.table, tuple(s for s in found if isinstance(s, Step)),
                tuple(s for s in found if isinstance(s, str)))
