"""Authorized development: ``developer_authorizations``, and a developer credential's organization
(``principals.uscc``).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def _serial() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "developer_authorizations",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("organization", sa.Text(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("datasets", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("agreement_no", sa.String(length=64), nullable=True),
        sa.Column("agreement_on", sa.Date(), nullable=True),
        sa.Column("filing_no", sa.String(length=64), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_developer_authorizations_uscc", "developer_authorizations", ["uscc"])
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("uscc", sa.String(length=18), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.drop_column("uscc")
    op.drop_table("developer_authorizations")
