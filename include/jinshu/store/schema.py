"""The central store's schema: governance tables and one table per dataset contract."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.store.tables import dataset_table, metadata


def ensure_schema(engine: Engine, contracts: dict[str, Contract]) -> None:
    """Create governance and dataset tables that do not exist yet."""
    for contract in contracts.values():
        dataset_table(contract)
    metadata.create_all(engine, checkfirst=True)
