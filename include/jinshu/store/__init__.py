"""Adapters to storage: the central store (engine, tables, schema, bulk load) and object stores.

:mod:`.dialect` holds every difference between SQLite and PostgreSQL;
:mod:`.objects` gives local folders and S3 the same few verbs.
"""
