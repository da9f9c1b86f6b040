"""The governance tables as they stood when migrations began (2026-11).

A store created before then (tables present, no ``alembic_version``) is stamped
at this revision by :func:`jinshu.store.schema.upgrade_governance`; a table such a
store lacks is created here.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("audit_log", "batches", "consent_gate", "consent_withdrawals", "consents", "duplicates",
          "incidents", "publications", "quality_results", "quarantine", "scope_violations")


def _serial_id() -> sa.Column:
    """An autoincrementing key: BIGINT on PostgreSQL, INTEGER (SQLite's rowid) on SQLite."""
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                     nullable=False)


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("audit_log"):
        op.create_table("audit_log",
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("at", sa.String(length=32), nullable=False),
            sa.Column("actor", sa.String(length=128), nullable=False),
            sa.Column("action", sa.String(length=32), nullable=False),
            sa.Column("subject", sa.Text(), nullable=False),
            sa.Column("details", sa.Text(), nullable=False),
            sa.Column("prev_hash", sa.String(length=64), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("seq"))
    if _missing("batches"):
        op.create_table("batches",
            sa.Column("batch_id", sa.String(length=96), nullable=False),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("department", sa.String(length=64), nullable=False),
            sa.Column("file_key", sa.Text(), nullable=False),
            sa.Column("file_checksum", sa.String(length=64), nullable=False),
            sa.Column("file_size", sa.BigInteger(), nullable=False),
            sa.Column("file_modified", sa.DateTime(timezone=True), nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("encoding", sa.String(length=16), nullable=True),
            sa.Column("rows_in", sa.BigInteger(), nullable=False),
            sa.Column("stored", sa.BigInteger(), nullable=False),
            sa.Column("duplicates", sa.BigInteger(), nullable=False),
            sa.Column("quarantined", sa.BigInteger(), nullable=False),
            sa.Column("repeat_of", sa.String(length=96), nullable=True),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("batch_id"))
        op.create_index(op.f("ix_batches_dataset_id"), "batches", ["dataset_id"])
        op.create_index(op.f("ix_batches_file_checksum"), "batches", ["file_checksum"])
    if _missing("consent_gate"):
        op.create_table("consent_gate",
            sa.Column("batch_id", sa.String(length=96), nullable=False),
            sa.Column("field", sa.String(length=64), nullable=False),
            sa.Column("kept", sa.BigInteger(), nullable=False),
            sa.Column("dropped", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("batch_id", "field"))
    if _missing("consent_withdrawals"):
        op.create_table("consent_withdrawals",
            _serial_id(),
            sa.Column("subject_key", sa.String(length=64), nullable=False),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("field", sa.String(length=64), nullable=False),
            sa.Column("withdrawn_on", sa.Date(), nullable=False),
            sa.Column("honored_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("values_removed", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"))
    if _missing("consents"):
        op.create_table("consents",
            _serial_id(),
            sa.Column("subject_key", sa.String(length=64), nullable=False),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("field", sa.String(length=64), nullable=False),
            sa.Column("decision", sa.String(length=16), nullable=False),
            sa.Column("decided_on", sa.Date(), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("subject_key", "dataset_id", "field", "decision", "decided_on",
                                name="uq_consents_decision"))
        op.create_index("ix_consents_lookup", "consents", ["dataset_id", "field", "subject_key"])
    if _missing("duplicates"):
        op.create_table("duplicates",
            sa.Column("batch_id", sa.String(length=96), nullable=False),
            sa.Column("source_row", sa.BigInteger(), nullable=False),
            sa.Column("record_hash", sa.String(length=32), nullable=False),
            sa.PrimaryKeyConstraint("batch_id", "source_row"))
    if _missing("incidents"):
        op.create_table("incidents",
            _serial_id(),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("opened_by", sa.String(length=128), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("blamed_publication", sa.BigInteger(), nullable=True),
            sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("closed_by", sa.String(length=128), nullable=True),
            sa.Column("close_reason", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"))
        op.create_index(op.f("ix_incidents_dataset_id"), "incidents", ["dataset_id"])
    if _missing("publications"):
        op.create_table("publications",
            _serial_id(),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("rows", sa.BigInteger(), nullable=False),
            sa.Column("suppressed_rows", sa.BigInteger(), nullable=False),
            sa.Column("location", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"))
        op.create_index(op.f("ix_publications_dataset_id"), "publications", ["dataset_id"])
    if _missing("quality_results"):
        op.create_table("quality_results",
            _serial_id(),
            sa.Column("batch_id", sa.String(length=96), nullable=False),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("expectation", sa.String(length=128), nullable=False),
            sa.Column("expectation_type", sa.String(length=96), nullable=False),
            sa.Column("severity", sa.String(length=16), nullable=False),
            sa.Column("success", sa.Boolean(), nullable=False),
            sa.Column("observed_value", sa.Text(), nullable=True),
            sa.Column("element_count", sa.BigInteger(), nullable=True),
            sa.Column("unexpected_count", sa.BigInteger(), nullable=False),
            sa.Column("unexpected_sample", sa.Text(), nullable=False),
            sa.Column("kwargs", sa.Text(), nullable=False),
            sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("batch_id", "expectation", name="uq_quality_results_batch_expectation"),
            comment="One row per expectation per validated batch (grain: batch_id, expectation)")
        op.create_index("ix_quality_results_dataset_time", "quality_results",
                        ["dataset_id", "validated_at"])
    if _missing("quarantine"):
        op.create_table("quarantine",
            _serial_id(),
            sa.Column("batch_id", sa.String(length=96), nullable=False),
            sa.Column("source_row", sa.BigInteger(), nullable=True),
            sa.Column("column_name", sa.Text(), nullable=True),
            sa.Column("rule", sa.String(length=64), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("original", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"))
        op.create_index(op.f("ix_quarantine_batch_id"), "quarantine", ["batch_id"])
    if _missing("scope_violations"):
        op.create_table("scope_violations",
            sa.Column("batch_id", sa.String(length=96), nullable=False),
            sa.Column("column_header", sa.Text(), nullable=False),
            sa.Column("dataset_id", sa.String(length=64), nullable=False),
            sa.Column("department", sa.String(length=64), nullable=False),
            sa.Column("file_key", sa.Text(), nullable=False),
            sa.Column("non_empty_values", sa.BigInteger(), nullable=False),
            sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("batch_id", "column_header"))


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
