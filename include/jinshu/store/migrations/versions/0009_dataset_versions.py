"""Dataset tables keep versions: ``_valid_from``, ``_valid_to`` and partial key indexes on ``ds_*``.

Before this revision a changed record overwrote its stored row. Every dataset
table made by that code gains the two validity columns (each stored row becomes
its record's current version, valid from the load of the batch that wrote it,
``batches.finished_at``, else from its acquisition); its unique natural-key
constraint ``uq_<table>_key`` becomes a unique index over current versions of the
same name, beside ``ix_<table>_history`` over earlier versions
(:mod:`jinshu.store.versions`). A platform change to every dataset table, not a
contract change, so it is a revision, applied once on start like the rest. Tables
already in this shape are left alone. Downgrading deletes the earlier versions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from jinshu.store.dialect import partial_index

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LINEAGE = {"_record_hash", "_batch_id", "_acquired_at"}


def _key_of(inspector, table: str) -> list[str]:
    for unique in inspector.get_unique_constraints(table):
        if unique["name"] == f"uq_{table}_key":
            return unique["column_names"]
    for index in inspector.get_indexes(table):
        if index["name"] == f"uq_{table}_key":
            return index["column_names"]
    raise RuntimeError(f"dataset table {table} has no natural-key constraint uq_{table}_key, so "
                       "its current versions cannot be told apart. Fix: restore the constraint "
                       f"(UNIQUE over the natural key's stored columns) and start again")


def _dataset_tables(versioned: bool) -> list[tuple[str, list[str]]]:
    """``(table, natural-key columns)`` of each ``ds_*`` table with (or without) versions."""
    inspector = sa.inspect(op.get_bind())
    found = []
    for table in sorted(inspector.get_table_names()):
        columns = {c["name"] for c in inspector.get_columns(table)}
        if table.startswith("ds_") and columns >= LINEAGE and ("_valid_to" in columns) == versioned:
            found.append((table, _key_of(inspector, table)))
    return found


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    for table, key in _dataset_tables(versioned=False):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("_valid_from", moment, nullable=True))
            batch.add_column(sa.Column("_valid_to", moment, nullable=True))
        op.execute(f'UPDATE "{table}" SET "_valid_from" = COALESCE((SELECT b.finished_at FROM '
                   f'batches AS b WHERE b.batch_id = "{table}"."_batch_id"), "_acquired_at")')
        with op.batch_alter_table(table) as batch:
            batch.alter_column("_valid_from", existing_type=moment, nullable=False)
            batch.drop_constraint(f"uq_{table}_key", type_="unique")
        op.create_index(f"uq_{table}_key", table, key, unique=True,
                        **partial_index(sa.text('"_valid_to" IS NULL')))
        op.create_index(f"ix_{table}_history", table, [*key, "_batch_id"],
                        **partial_index(sa.text('"_valid_to" IS NOT NULL')))


def downgrade() -> None:
    for table, key in _dataset_tables(versioned=True):
        op.execute(f'DELETE FROM "{table}" WHERE "_valid_to" IS NOT NULL')
        op.drop_index(f"ix_{table}_history", table_name=table)
        op.drop_index(f"uq_{table}_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("_valid_to")
            batch.drop_column("_valid_from")
            batch.create_unique_constraint(f"uq_{table}_key", key)
