"""Alembic revisions of the governance tables, oldest first."""
