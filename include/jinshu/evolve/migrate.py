"""Bring stored dataset tables to their contracts: read the live table, apply the steps, audit.

:func:`describe` reads a ``ds_<id>`` table with SQLAlchemy's inspector (column
kinds, its natural-key constraint, whether each field's stored values are
envelopes, which fields are retired); :func:`jinshu.evolve.diff.diff` decides the
steps; :func:`migrate` applies them, one transaction per dataset, with one audit
entry per step (counts only, never values). :func:`require_current` is what the
ingest and the publishers call: a table that does not match its contract stops
them, naming the dataset, what differs and ``jinshu catalog migrate``.

Encryption and decryption run in place on every version of every record, in chunks
of ``chunk_rows`` rows walked in index order (current versions, then earlier ones),
each row updated by its version key (natural key and batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.evolve.diff import Plan, Step, StoredTable, diff
from jinshu.govern import audit
from jinshu.protect.crypto import Protector, looks_sealed, subject_rows
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.store import dialect, versions
from jinshu.store.tables import dataset_table, retired_fields

AUDIT_ACTION = "migrate_dataset"
FIX = "run `jinshu catalog diff` to see what will change, then `jinshu catalog migrate`"


class SchemaOutOfDate(RuntimeError):
    """A dataset table does not match its contract: migrate first (or fix the contract)."""


@dataclass(frozen=True)
class Preview:
    """A dataset's plan with how many stored values each step touches."""

    contract: Contract
    plan: Plan
    values: dict[str, int]  # field -> non-empty stored values, for steps that touch values

    def lines(self) -> list[str]:
        out = []
        for step in self.plan.steps:
            count = self.values.get(step.field)
            out.append(step.describe(self.contract)
                       + (f" [{count} stored value(s)]" if count is not None else ""))
        return out + [f"REFUSED: {r}" for r in self.plan.refusals]

    def as_dict(self) -> dict:
        return {"dataset": self.plan.dataset, "table": self.plan.table,
                "steps": [{"action": s.action, "field": s.field, "kind": s.kind,
                           "index": s.index, "values": self.values.get(s.field),
                           "says": s.describe(self.contract)} for s in self.plan.steps],
                "refusals": list(self.plan.refusals)}


def _kind(type_: sa.types.TypeEngine) -> str:
    for cls, kind in ((sa.Integer, "integer"), (sa.Numeric, "decimal"), (sa.DateTime, "datetime"),
                      (sa.Date, "date"), (sa.String, "string")):
        if isinstance(type_, cls):
            return kind
    return "other"


def _looks_sealed(conn: Connection, table: str, column: str) -> bool | None:
    """Whether ``column``'s stored values are envelopes (None: it holds none)."""
    quote = conn.dialect.identifier_preparer.quote
    value = conn.exec_driver_sql(f"SELECT {quote(column)} FROM {quote(table)} "
                                 f"WHERE {quote(column)} IS NOT NULL LIMIT 1").scalar()
    return None if value is None else looks_sealed(str(value))


def describe(conn: Connection, contract: Contract) -> StoredTable | None:
    """The live ``ds_<id>`` table (None when it does not exist yet)."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(contract.table):
        return None
    columns = {c["name"]: _kind(c["type"]) for c in inspector.get_columns(contract.table)}
    key = next((tuple(i["column_names"]) for i in inspector.get_indexes(contract.table)
                if i["name"] == versions.key_index_name(contract.table) and i["unique"]), ())
    # Only text can hold envelopes; a typed column holds its values in the clear.
    states = {f: _looks_sealed(conn, contract.table, f) if columns[f] == "string" else False
              for f in contract.field_names if f in columns}
    retired = conn.execute(sa.select(retired_fields.c.field)
                           .where(retired_fields.c.dataset_id == contract.id)).scalars()
    return StoredTable(contract.table, columns, key,
                       sealed=frozenset(f for f, s in states.items() if s is True),
                       clear=frozenset(f for f, s in states.items() if s is False),
                       retired=frozenset(retired))


def plan(conn: Connection, contract: Contract) -> Plan:
    stored = describe(conn, contract)
    return Plan(contract.id, contract.table, (), ()) if stored is None else diff(contract, stored)


def _count(conn: Connection, table: str, column: str) -> int:
    quote = conn.dialect.identifier_preparer.quote
    return conn.exec_driver_sql(f"SELECT count({quote(column)}) FROM {quote(table)}").scalar()


def preview(engine: Engine, contracts: dict[str, Contract]) -> list[Preview]:
    """Every dataset's plan, with the stored values each step touches (nothing changed)."""
    out = []
    with engine.connect() as conn:
        for contract in contracts.values():
            found = plan(conn, contract)
            values = {s.field: _count(conn, contract.table, s.field) for s in found.steps
                      if s.action in ("retire", "encrypt", "decrypt", "unlink")}
            out.append(Preview(contract, found, values))
    return out


def require_current(engine: Engine, contract: Contract) -> None:
    """Raise :class:`SchemaOutOfDate` unless ``ds_<id>`` matches ``contract`` (or is not there)."""
    with engine.connect() as conn:
        found = plan(conn, contract)
    if found.in_step:
        return
    what = "; ".join([*(s.describe(contract) for s in found.steps), *found.refusals])
    fix = ("fix the contract as each refusal says" if found.refusals else FIX)
    raise SchemaOutOfDate(f"dataset {contract.id}: the central store's table {contract.table} "
                          f"does not match its contract ({what}). Nothing was ingested or "
                          f"published. Fix: {fix}")


def _pages(conn: Connection, table: sa.TableClause, key: tuple[str, ...], column: str,
           chunk_rows: int) -> Iterator[list[sa.Row]]:
    """Rows (version key, the subject pseudonym, ``column``) with a value, a chunk at a time:
    current versions, then earlier ones, each walked in its index's order."""
    named = [table.c[k] for k in versions.version_key(key)]
    for where, order in versions.sweeps(table, key):
        ordered = [table.c[k] for k in order]
        after = None
        while True:
            query = sa.select(*named, table.c[SUBJECT_KEY], table.c[column]).where(
                where, table.c[column].is_not(None))
            if after is not None:
                query = query.where(sa.tuple_(*ordered) > sa.tuple_(*after))
            rows = conn.execute(query.order_by(*ordered).limit(chunk_rows)).all()
            if not rows:
                break
            yield rows
            after = tuple(rows[-1]._mapping[k] for k in order)


def _convert(conn: Connection, contract: Contract, step: Step, key: tuple[str, ...],
             protector: Protector, chunk_rows: int) -> int:
    """Encrypt (with the blind index) or decrypt ``step.field``'s stored values in place, in
    every version."""
    named = versions.version_key(key)
    names = [*named, versions.VALID_TO, SUBJECT_KEY, step.field,
             *([step.index] if step.index else [])]
    table = sa.table(contract.table, *(sa.column(n) for n in dict.fromkeys(names)))
    update = table.update().where(*(table.c[k] == sa.bindparam(f"k_{i}")
                                    for i, k in enumerate(named)))
    done = 0
    for rows in _pages(conn, table, key, step.field, chunk_rows):
        values = pd.Series([r[-1] for r in rows], dtype="str")
        bound_to = subject_rows(pd.Series([r[-2] for r in rows], dtype="str"))
        new = {step.field: (protector.encrypt(values, contract, step.field, bound_to)
                            if step.action == "encrypt"
                            else protector.decrypt(values, contract, step.field, bound_to))}
        if step.action == "encrypt" and step.index:
            new[step.index] = protector.pseudonyms.many(values)
        params = [{**{f"k_{i}": r[i] for i in range(len(named))},
                   **{f"v_{c}": new[c].iloc[n] for c in new}} for n, r in enumerate(rows)]
        conn.execute(update.values({c: sa.bindparam(f"v_{c}") for c in new}), params)
        done += len(rows)
    return done


def _apply(conn: Connection, contract: Contract, step: Step, stored: StoredTable,
           protector: Protector, actor: str, now: datetime, chunk_rows: int) -> int:
    """One step; returns the stored values it touched."""
    ops = Operations(MigrationContext.configure(conn))
    target = dataset_table(contract)
    inspector = sa.inspect(conn)
    if step.action == "add":
        ops.add_column(contract.table, sa.Column(step.field, target.c[step.field].type,
                                                 comment=target.c[step.field].comment))
        if inspector.has_table(f"ex_{contract.id}"):  # the exchange's table gains it too
            ops.add_column(f"ex_{contract.id}", sa.Column(step.field, sa.Text))
    if step.index and step.action in ("add", "encrypt") and step.index not in stored.columns:
        ops.add_column(contract.table, sa.Column(step.index, target.c[step.index].type))
    if step.action == "retire":
        conn.execute(retired_fields.insert().values(
            dataset_id=contract.id, field=step.field, retired_at=now, retired_by=actor,
            sealed=_looks_sealed(conn, contract.table, step.field) is True))
        dialect.comment_column(conn, contract.table, step.field,
                               f"retired {now.date().isoformat()}: no longer written; values kept")
        return _count(conn, contract.table, step.field)
    if step.action == "reinstate":
        conn.execute(retired_fields.delete().where(retired_fields.c.dataset_id == contract.id,
                                                   retired_fields.c.field == step.field))
        dialect.comment_column(conn, contract.table, step.field, target.c[step.field].comment)
        return 0
    if step.action == "unlink":  # taken from the authority now: no copy kept here
        removed = _count(conn, contract.table, step.field)
        ops.drop_column(contract.table, step.field)
        if step.index:
            ops.drop_column(contract.table, step.index)
        return removed
    if step.action in ("encrypt", "decrypt"):
        done = _convert(conn, contract, step, stored.key, protector, chunk_rows)
        if step.action == "decrypt" and step.index and step.index in stored.columns:
            ops.drop_column(contract.table, step.index)
        dialect.comment_column(conn, contract.table, step.field, target.c[step.field].comment)
        return done
    return 0


def migrate(engine: Engine, contract: Contract, protector: Protector, actor: str, now: datetime,
            chunk_rows: int = 10_000) -> Plan:
    """Apply ``contract``'s plan in one transaction, each step audited; returns the plan.

    Raises :class:`SchemaOutOfDate` (nothing applied) when the plan has refusals.
    """
    with dialect.named_lock(engine, f"migrate-{contract.id}"), engine.begin() as conn:
        stored = describe(conn, contract)
        found = Plan(contract.id, contract.table, (), ()) if stored is None else diff(contract,
                                                                                        stored)
        if found.refusals:
            raise SchemaOutOfDate("; ".join(found.refusals))
        for step in found.steps:
            values = _apply(conn, contract, step, stored, protector, actor, now, chunk_rows)
            audit.append(conn, AUDIT_ACTION, f"{contract.table}.{step.field}",
                         {"dataset": contract.id, "step": step.action, "field": step.field,
                          "index": step.index, "values": values}, actor=actor, now=now)
    return found
