"""Bulk-load a data frame into a table: COPY on PostgreSQL, executemany elsewhere.

Values go in as text in canonical form (ISO dates, plain numbers); the
database casts them to the column types. Missing values become NULL.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _as_text_table(frame: pd.DataFrame) -> pa.Table:
    return pa.table({c: pa.array(frame[c].astype("str"), type=pa.string(), from_pandas=True)
                     for c in frame.columns})


def copy_postgres(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(_as_text_table(frame), buffer,
                    write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    columns = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in frame.columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        view = buffer.getbuffer()
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start:start + (1 << 20)])


def insert_many(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Plain DB-API executemany of text values (SQLite's type affinity does the rest)."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    text = frame.astype("str").astype(object)
    rows = text.where(frame.notna(), None).itertuples(index=False, name=None)
    conn.exec_driver_sql(f"INSERT INTO {name} ({columns}) VALUES ({marks})", list(rows))


def bulk_load(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Append ``frame`` (columns named as in ``table``) inside the caller's transaction."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        copy_postgres(conn, table, frame)
    else:
        insert_many(conn, table, frame)
