"""Alembic migrations of the central store's governance tables (:mod:`jinshu.store.schema` runs them).

Dataset tables (``ds_<id>``) follow their contracts instead: :mod:`jinshu.evolve`; a
revision touches them only for what every dataset table shares (0009: versions).
A change to a governance table in :mod:`jinshu.store.tables` needs a new revision
in ``versions/`` (``tests/jinshu/test_migrations.py`` compares the two).
"""
