"""Values a dataset takes from its concept's authority, read there by subject key.

A field declared ``from_authority`` has no column in its dataset's table: the
ingest stores no copy, only the subject key that links the record to the
authority's (docs/regulation.md#concepts). Every read that serves such a field —
the exchange's pages, lookups and published snapshot, open data — goes through
:func:`resolved`: the dataset's table left-joined to each authority's table on
``_subject_key``, the authority's column standing in for the field; both sides
read current versions only (:mod:`jinshu.store.versions`). An authority holds one
record per subject (a catalog rule), so the join never multiplies rows; a subject
the authority does not hold reads as missing.

Encrypted values stay the authority's envelopes, bound to its dataset and field;
:func:`reveal` opens them there.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from jinshu.catalog import Contract
from jinshu.catalog.concepts import source_of
from jinshu.protect import policy
from jinshu.protect.crypto import Protector, subject_rows
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.store import versions
from jinshu.store.tables import dataset_table


def current_rows(table: sa.FromClause) -> list[sa.ColumnElement[bool]]:
    """Conditions selecting the current version of each record in a dataset table
    (:mod:`jinshu.store.versions`): every join here and in :mod:`jinshu.repeat.detect` follows."""
    return [versions.current(table)]


@dataclass(frozen=True)
class Resolved:
    """A dataset table joined to the authorities its taken fields come from."""

    source: sa.FromClause
    columns: dict[str, sa.ColumnElement]  # every stored column and every taken field, by name
    current: sa.ColumnElement[bool]  # the dataset's own current versions (earlier ones never read)

    def select(self, names: list[str] | tuple[str, ...]) -> sa.Select:
        return (sa.select(*(self.columns[n] for n in names)).select_from(self.source)
                .where(self.current))


def resolved(contract: Contract, catalog: dict[str, Contract] | None) -> Resolved:
    """``contract``'s table with each taken field read from its authority (one join per
    authority); a dataset taking nothing is its table alone."""
    table = dataset_table(contract)
    columns: dict[str, sa.ColumnElement] = {c.name: c for c in table.c}
    source: sa.FromClause = table
    if contract.taken_fields and catalog is None:
        raise ValueError(f"{contract.id} takes fields from their authorities: reading it needs the "
                         "catalog")
    joined: dict[str, sa.FromClause] = {}
    for spec in contract.taken_fields:
        holder = source_of(catalog, contract, spec.name)
        authority = joined.get(holder.contract.id)
        if authority is None:
            authority = dataset_table(holder.contract).alias(f"authority_{len(joined) + 1}")
            source = source.outerjoin(authority, sa.and_(
                authority.c[SUBJECT_KEY] == table.c[SUBJECT_KEY], *current_rows(authority)))
            joined[holder.contract.id] = authority
        columns[spec.name] = authority.c[holder.field.name].label(spec.name)
    return Resolved(source, columns, versions.current(table))


def taken_sealed(contract: Contract) -> list[str]:
    """Taken fields whose values are the authority's envelopes."""
    return [f.name for f in contract.taken_fields if f.sensitivity == policy.ENCRYPTED]


def reveal_one(values: pd.Series, subjects: pd.Series, contract: Contract, field: str,
               catalog: dict[str, Contract], protector: Protector) -> pd.Series:
    """A taken field's envelopes (as :func:`resolved` read them) opened at their authority."""
    holder = source_of(catalog, contract, field)
    return protector.decrypt(values.astype("str"), holder.contract, holder.field.name,
                             subject_rows(subjects.astype("str")))


def reveal(frame: pd.DataFrame, contract: Contract, catalog: dict[str, Contract] | None,
           protector: Protector | None) -> pd.DataFrame:
    """``frame`` (rows read through :func:`resolved`) with taken sensitive fields in the clear."""
    sealed = [name for name in taken_sealed(contract) if name in frame]
    if not sealed:
        return frame
    if protector is None or catalog is None:
        raise ValueError(f"{contract.id} takes encrypted fields from their authority: reading "
                         "them needs the keys and the catalog")
    out = frame.copy()
    for name in sealed:
        out[name] = reveal_one(out[name], out[SUBJECT_KEY], contract, name, catalog, protector)
    return out
