"""``publications.through_seq`` and ``publications.shape``: what an exchange version holds, so
the next publish writes only what changed since.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("through_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("shape", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.drop_column("shape")
        batch.drop_column("through_seq")
