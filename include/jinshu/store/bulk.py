"""Bulk-load data frames into a table: COPY on PostgreSQL, executemany elsewhere.

Values go in as text in canonical form (ISO dates, plain numbers); the
database casts them to the column types. Missing values become NULL.
Frames may come one chunk at a time: each chunk is prepared (protected,
serialized) while PostgreSQL is still storing the previous one.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.store import dialect

CHUNK_ROWS = 100_000
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def chunks(frame: pd.DataFrame, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), rows):
        yield frame.iloc[start:start + rows]


def _as_text_table(frame: pd.DataFrame) -> pa.Table:
    return pa.table({c: pa.array(frame[c].astype("str"), type=pa.string(), from_pandas=True)
                     for c in frame.columns})


def as_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV rows (no header), exactly as COPY receives them."""
    buffer = io.BytesIO()
    pacsv.write_csv(_as_text_table(frame), buffer, write_options=_CSV)
    return buffer.getvalue()


def bulk_load(conn: Connection, table: sa.Table, frames: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
    """Append ``frames`` (columns named as in ``table``) inside the caller's transaction."""
    stream = iter([frames] if isinstance(frames, pd.DataFrame) else frames)
    first = next((f for f in stream if not f.empty), None)
    if first is None:
        return
    dialect.write_frames(conn, table, itertools.chain([first], (f for f in stream if not f.empty)),
                         as_csv)


@contextlib.contextmanager
def column_defaults(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> Iterator[None]:
    """Columns filled by the database with one value per load, not sent with every row.

    DDL: takes the table's exclusive lock until the transaction ends.
    """
    quote = conn.dialect.identifier_preparer.quote
    name = conn.dialect.identifier_preparer.format_table(table)
    literal = sa.String().literal_processor(conn.dialect)
    for column, value in values.items():
        conn.exec_driver_sql(f"ALTER TABLE {name} ALTER COLUMN {quote(column)} "
                             f"SET DEFAULT {literal(str(value))}")
    yield
    for column in values:
        conn.exec_driver_sql(f"ALTER TABLE {name} ALTER COLUMN {quote(column)} DROP DEFAULT")
