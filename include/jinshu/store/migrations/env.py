"""Alembic's environment: runs on the connection the caller passes in ``config.attributes``.

Only governance tables are Alembic's: dataset (``ds_``), exchange (``ex_``) and staging
tables are left out of autogenerate's comparison.
"""

from alembic import context

from jinshu.store.tables import GOVERNANCE_TABLES, metadata

_NAMES = frozenset(t.name for t in GOVERNANCE_TABLES)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in _NAMES


context.configure(connection=context.config.attributes["connection"], target_metadata=metadata,
                  include_object=include_object)
with context.begin_transaction():
    context.run_migrations()
