"""``batches.file_ref``: a keyed hash of a drop's real object key (the ledger shows a masked name).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("file_ref", sa.String(length=64), nullable=True))
        batch.create_index("ix_batches_file_ref", ["file_ref"])


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_index("ix_batches_file_ref")
        batch.drop_column("file_ref")
