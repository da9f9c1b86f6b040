"""``retired_fields``: fields a contract no longer declares, whose stored values are kept.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retired_fields",
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "field"),
        comment="One row per retired field of a dataset table: its column and values are kept",
    )


def downgrade() -> None:
    op.drop_table("retired_fields")
