"""Dataset tables keep versions: what makes a row the current one, and how versions are found.

Each row of ``ds_<id>`` is one *version* of a record: ``_valid_from`` is when the
store began to hold it (the load of the batch that brought it, ``_batch_id``),
``_valid_to`` when a later batch replaced it (NULL: the current version).
Versions are half-open intervals ``[_valid_from, _valid_to)``. Two partial
indexes, the same on PostgreSQL and SQLite:

* ``uq_<table>_key``: the natural key, unique among current versions (every
  reader of current data goes through it);
* ``ix_<table>_history``: the natural key and the batch, over earlier versions
  only (empty until a record changes, so the first load pays nothing for it).

A version is named by its natural key and its batch (:func:`version_key`): a batch
holds at most one record per natural key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from jinshu.store.dialect import partial_index

VALID_FROM = "_valid_from"
VALID_TO = "_valid_to"
BATCH = "_batch_id"


def columns() -> list[sa.Column]:
    return [sa.Column(VALID_FROM, sa.DateTime(timezone=True), nullable=False),
            sa.Column(VALID_TO, sa.DateTime(timezone=True))]


def key_index_name(table: str) -> str:
    return f"uq_{table}_key"


def history_index_name(table: str) -> str:
    return f"ix_{table}_history"


def indexes(table: sa.Table, key: Sequence[str]) -> list[sa.Index]:
    """The current-key and history indexes of ``table`` (attached to it)."""
    valid_to = table.c[VALID_TO]
    return [
        sa.Index(key_index_name(table.name), *(table.c[k] for k in key), unique=True,
                 **partial_index(valid_to.is_(None))),
        sa.Index(history_index_name(table.name), *(table.c[k] for k in key), table.c[BATCH],
                 **partial_index(valid_to.is_not(None))),
    ]


def current(table: sa.Table | sa.TableClause) -> sa.ColumnElement[bool]:
    """The row is its record's current version."""
    return table.c[VALID_TO].is_(None)


def earlier(table: sa.Table | sa.TableClause) -> sa.ColumnElement[bool]:
    """The row is an earlier version, replaced by a later batch."""
    return table.c[VALID_TO].is_not(None)


def version_key(key: Sequence[str]) -> tuple[str, ...]:
    """The columns naming one version: the natural key and the batch that brought it."""
    return (*key, BATCH)


def sweeps(table: sa.Table | sa.TableClause, key: Sequence[str]
           ) -> list[tuple[sa.ColumnElement[bool], tuple[str, ...]]]:
    """How to walk every version in index order: current versions by natural key, then earlier
    ones by natural key and batch (each ``(where, order)`` pair follows one partial index)."""
    return [(current(table), tuple(key)), (earlier(table), version_key(key))]
