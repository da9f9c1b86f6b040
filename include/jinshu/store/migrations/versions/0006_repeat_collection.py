"""Repeated collection across departments: ``repeat_runs``, ``repeat_findings``, ``repeat_notices``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _serial() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "repeat_runs",
        sa.Column("run_id", sa.String(length=96), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("held_elsewhere", sa.Integer(), nullable=False),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("without_identifier", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
        comment="One row per repeat-collection detection run (grain: run_id)",
    )
    op.create_table(
        "repeat_findings",
        sa.Column("run_id", sa.String(length=96), nullable=False),
        sa.Column("collector_dataset", sa.String(length=64), nullable=False),
        sa.Column("concept", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("collector_department", sa.String(length=64), nullable=False),
        sa.Column("collector_field", sa.String(length=64), nullable=False),
        sa.Column("authority_dataset", sa.String(length=64), nullable=False),
        sa.Column("authority_department", sa.String(length=64), nullable=False),
        sa.Column("authority_field", sa.String(length=64), nullable=False),
        sa.Column("takes", sa.Boolean(), nullable=False),
        sa.Column("collector_subjects", sa.BigInteger(), nullable=False),
        sa.Column("subjects_twice", sa.BigInteger(), nullable=False),
        sa.Column("conflicts", sa.BigInteger(), nullable=True),
        sa.Column("uncertain", sa.BigInteger(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "collector_dataset", "concept", "method"),
        comment="One row per run, collecting dataset, concept and method (counts only)",
    )
    op.create_index("ix_repeat_findings_pair", "repeat_findings",
                    ["collector_dataset", "concept", "found_at"])
    op.create_table(
        "repeat_notices",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("collector_department", sa.String(length=64), nullable=False),
        sa.Column("collector_dataset", sa.String(length=64), nullable=False),
        sa.Column("collector_field", sa.String(length=64), nullable=False),
        sa.Column("concept", sa.String(length=64), nullable=False),
        sa.Column("authority_department", sa.String(length=64), nullable=False),
        sa.Column("authority_dataset", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_run", sa.String(length=96), nullable=False),
        sa.Column("last_run", sa.String(length=96), nullable=False),
        sa.Column("subjects_twice", sa.BigInteger(), nullable=False),
        sa.Column("conflicts", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_run", sa.String(length=96), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        comment="One row per repeat-collection finding sent back to the collecting department",
    )
    op.create_index("ix_repeat_notices_collector_department", "repeat_notices",
                    ["collector_department"])
    op.create_index("ix_repeat_notices_pair", "repeat_notices", ["collector_dataset", "concept"])


def downgrade() -> None:
    op.drop_table("repeat_notices")
    op.drop_table("repeat_findings")
    op.drop_table("repeat_runs")
