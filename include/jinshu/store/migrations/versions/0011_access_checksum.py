"""The checksum of every exchange page delivered (``exchange_access.checksum``), so that a saved
page can be checked against what the exchange really sent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exchange_access") as table:
        table.add_column(sa.Column("checksum", sa.String(length=71), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_access") as table:
        table.drop_column("checksum")
