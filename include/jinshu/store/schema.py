"""The central store's schema: governance tables by Alembic revision, one table per contract.

Governance tables (:data:`jinshu.store.tables.GOVERNANCE_TABLES`) are brought to the
newest revision of :mod:`jinshu.store.migrations` on the caller's connection. A store
created before migrations existed (governance tables, no ``alembic_version``) is
recognised and stamped at the baseline revision first. Dataset tables that do not
exist yet are created from their contracts; an existing one that no longer matches
its contract is :mod:`jinshu.evolve`'s to migrate (``jinshu catalog migrate``). A
change of the platform to every dataset table alike (revision 0009: versions) is a
revision too, since it must happen once, on start, before anything reads them.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.store import dialect
from jinshu.store.tables import dataset_table, metadata

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the governance tables as they stood before migrations
BASELINE_TABLES = ("audit_log", "batches", "consent_gate", "consent_withdrawals", "consents",
                   "duplicates", "incidents", "publications", "quality_results", "quarantine",
                   "scope_violations")
VERSION_TABLE = "alembic_version"


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; migrations run on ``conn``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


@cache
def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def governance_revision(conn: Connection) -> str | None:
    """The store's revision (None: never migrated); read directly, without Alembic's log lines."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _adopt_unversioned_store(config: Config, conn: Connection) -> None:
    """A store made before migrations (``batches`` there, no version table): stamped at the
    baseline; a baseline table it lacks (an older store still) is created first."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("batches") or inspector.has_table(VERSION_TABLE):
        return
    if all(inspector.has_table(name) for name in BASELINE_TABLES):
        command.stamp(config, BASELINE)
    else:
        command.upgrade(config, BASELINE)  # the baseline creates only the tables missing
    log.info("central store without migration history: stamped at revision %s", BASELINE)


def upgrade_governance(engine: Engine) -> None:
    """Governance tables at the newest revision; a no-op (one query) when they are.

    One process at a time (a named lock): DAGs of several datasets may start on a fresh store.
    """
    with engine.connect() as conn:
        if governance_revision(conn) == head_revision():
            return
    with dialect.named_lock(engine, "schema"), engine.begin() as conn:
        config = alembic_config(conn)
        _adopt_unversioned_store(config, conn)
        command.upgrade(config, "head")


def ensure_schema(engine: Engine, contracts: dict[str, Contract]) -> None:
    """Governance tables migrated; dataset tables that do not exist yet created."""
    upgrade_governance(engine)
    tables = [dataset_table(contract) for contract in contracts.values()]
    metadata.create_all(engine, tables=tables, checkfirst=True)
