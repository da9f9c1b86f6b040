"""Every difference between SQLite (the embedded default) and PostgreSQL (production), in one place.

Callers ask for an operation (an upsert, a lock, a fast bulk write); only this
module knows how each database does it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

POSTGRESQL = "postgresql"


def is_postgres(bind: Connection | Engine) -> bool:
    return bind.dialect.name == POSTGRESQL


def create_engine(url: str) -> Engine:
    """SQLite in WAL mode (readers go on while a batch loads); PostgreSQL with pre-ping."""
    if url.startswith("sqlite:///"):
        _private_sqlite_file(Path(url.removeprefix("sqlite:///")))
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _wal(dbapi_conn, _record) -> None:
        dbapi_conn.execute("PRAGMA journal_mode=WAL")

    return engine


def _private_sqlite_file(path: Path) -> None:
    """The central store's file, readable by the platform's user only (0600), made now if
    need be: SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path) in ("", ":memory:"):
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for made in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        if made.exists():
            made.chmod(0o600)  # one made earlier under a looser umask, too


def serial_id() -> sa.types.TypeEngine:
    """An autoincrementing key: BIGINT on PostgreSQL, INTEGER (SQLite's rowid) elsewhere."""
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


def hex_string(length: int) -> sa.types.TypeEngine:
    """Hashes and pseudonyms compare byte-wise: the "C" collation on PostgreSQL (its key
    index builds ~40% faster than under a locale), plain text elsewhere."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), POSTGRESQL)


def upsert(conn: Connection, table: sa.Table):
    """An INSERT that supports ``on_conflict_do_update`` on this database."""
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


def partial_index(where: sa.ColumnElement[bool]) -> dict[str, sa.ColumnElement[bool]]:
    """``sa.Index`` options for an index over the rows matching ``where`` only (both databases
    have partial indexes; each dialect takes the predicate under its own keyword)."""
    return {"postgresql_where": where, "sqlite_where": where}


class prefix_before(FunctionElement):
    """``prefix_before(column, ':')``: the part of ``column`` before the first ``:``.

    Compiled with literals only, so a GROUP BY on it matches the SELECT.
    """

    inherit_cache = True
    type = sa.Text()
    name = "prefix_before"

    def __init__(self, column: sa.ColumnElement, separator: str) -> None:
        if len(separator) != 1 or separator == "'":
            raise ValueError("the separator is one character other than a quote")
        super().__init__(column, sa.literal_column(f"'{separator}'"))


@compiles(prefix_before, POSTGRESQL)
def _prefix_before_pg(element: prefix_before, compiler, **kw) -> str:
    column, separator = (compiler.process(c, **kw) for c in element.clauses)
    return f"split_part({column}, {separator}, 1)"


@compiles(prefix_before)
def _prefix_before_sqlite(element: prefix_before, compiler, **kw) -> str:
    column, separator = (compiler.process(c, **kw) for c in element.clauses)
    return f"substr({column}, 1, instr({column}, {separator}) - 1)"


class day_of(FunctionElement):
    """The UTC calendar day (``YYYY-MM-DD`` text) of a timestamp column: what a chart over
    time groups by. SQLite keeps timestamps as UTC text; PostgreSQL converts at UTC."""

    inherit_cache = True
    type = sa.Text()
    name = "day_of"


@compiles(day_of, POSTGRESQL)
def _day_of_pg(element: day_of, compiler, **kw) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"to_char(({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(day_of)
def _day_of_sqlite(element: day_of, compiler, **kw) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"substr({column}, 1, 10)"


def serialize_writers(conn: Connection, table: sa.Table) -> None:
    """One writer at a time on ``table`` until the transaction ends (an append-only chain).

    SQLite already serializes every writer of the database.
    """
    if is_postgres(conn):
        name = conn.dialect.identifier_preparer.format_table(table)
        conn.exec_driver_sql(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE")


class LockBusy(RuntimeError):
    """A named lock asked for without waiting is held by someone else."""


@contextlib.contextmanager
def named_lock(engine: Engine, name: str, wait: bool = True) -> Iterator[None]:
    """An exclusive lock across processes: a session advisory lock on PostgreSQL, a file
    lock beside the SQLite database (one host). With ``wait=False``, raises
    :class:`LockBusy` at once when someone else holds it."""
    if is_postgres(engine):
        key = int.from_bytes(hashlib.sha256(f"jinshu:{name}".encode()).digest()[:8], "big",
                             signed=True)
        with engine.connect() as conn:
            if wait:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            elif not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise LockBusy(name)
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        return
    database = engine.url.database
    folder = Path(database).parent if database and database != ":memory:" else Path("/tmp")
    with (folder / f".jinshu-{name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as busy:
            raise LockBusy(name) from busy
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def comment_column(conn: Connection, table: str, column: str, comment: str | None) -> None:
    """Document a column in the catalog of the database (PostgreSQL; SQLite keeps no comments)."""
    if is_postgres(conn):
        quote = conn.dialect.identifier_preparer.quote
        text = "NULL" if comment is None else sa.String().literal_processor(conn.dialect)(comment)
        conn.exec_driver_sql(f"COMMENT ON COLUMN {quote(table)}.{quote(column)} IS {text}")


def roomy_sorts(conn: Connection) -> None:
    """Until the transaction ends, sorts and hashes of a whole file's rows, and the key
    index built after a first load, may use more of the server's memory before spilling
    to disk (PostgreSQL's defaults are 4 and 64 MB)."""
    if is_postgres(conn):
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")


def can_copy_into_empty(conn: Connection, table: sa.Table) -> bool:
    """A first load may COPY straight in and build the key index after (PostgreSQL only)."""
    return is_postgres(conn) and conn.execute(sa.select(table).limit(1)).first() is None


def write_frames(conn: Connection, table: sa.Table, frames: Iterator[pd.DataFrame],
                 as_csv: Callable[[pd.DataFrame], bytes]) -> None:
    """Append non-empty ``frames``: COPY on PostgreSQL (sent from its own thread while the
    next chunk is prepared), DB-API executemany of text values elsewhere."""
    if is_postgres(conn):
        _copy(conn, table, frames, as_csv)
    else:
        for frame in frames:
            _insert_many(conn, table, frame)


def _copy(conn: Connection, table: sa.Table, frames: Iterator[pd.DataFrame],
          as_csv: Callable[[pd.DataFrame], bytes]) -> None:
    first = next(frames)
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in first.columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT csv)",
                     writer=QueuedLibpqWriter(cursor)) as copy:
        for frame in itertools.chain([first], frames):  # lazily: each chunk made as it is sent
            copy.write(as_csv(frame))


def _insert_many(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Plain DB-API executemany of text values (SQLite's type affinity does the rest)."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    name = conn.dialect.identifier_preparer.format_table(table)
    text = frame.astype("str").astype(object)
    rows = text.where(frame.notna(), None).itertuples(index=False, name=None)
    conn.exec_driver_sql(f"INSERT INTO {name} ({columns}) VALUES ({marks})", list(rows))


def read_text_frame(conn: Connection, query: sa.Select) -> pd.DataFrame:
    """Every column of ``query`` as text (pandas ``str``, missing values NaN), for a
    whole-table read: ``COPY (...) TO STDOUT`` parsed by pyarrow on PostgreSQL (how the
    open-data publisher reads a million rows), a plain read elsewhere."""
    if not is_postgres(conn):
        return pd.read_sql(query, conn).astype("str")
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    buffer = io.BytesIO()
    with conn.connection.driver_connection.cursor().copy(
            f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    names = [c.name for c in query.selected_columns]
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame({n: pd.Series(dtype="str") for n in names})
    buffer.seek(0)
    table = pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True,
        quoted_strings_can_be_null=False))
    return table.to_pandas().astype("str")
@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one snapshot of the store, taken at its first read
    (PostgreSQL: REPEATABLE READ; SQLite: a read transaction, which WAL keeps as it began)."""
    with engine.connect() as conn:
        if is_postgres(conn):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def read_frames(conn: Connection, query: sa.Select, rows: int) -> Iterator[pd.DataFrame]:
    """The rows of ``query`` in frames of about ``rows``: on PostgreSQL ``COPY (...) TO STDOUT``
    parsed by pyarrow, every column as text (a value as PostgreSQL prints it, NULL missing);
    elsewhere ``pandas.read_sql``."""
    if not is_postgres(conn):
        yield from pd.read_sql(query, conn, chunksize=rows, dtype_backend="pyarrow")
        return
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [c.name for c in query.selected_columns]
    text = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY ({text}) TO STDOUT (FORMAT csv)") as copy:
        rows_out = iter(copy)
        first = next(rows_out, None)
        if first is None:  # no row: nothing for the parser to open
            return
        reader = pacsv.open_csv(
            _CopyOut(itertools.chain([first], rows_out)),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                           block_size=8 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=False))
        pending, held = [], 0
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            if held >= rows:
                yield pa.Table.from_batches(pending).to_pandas()
                pending, held = [], 0
        if pending:
            yield pa.Table.from_batches(pending).to_pandas()


class _CopyOut(io.RawIOBase):
    """A readable file over a COPY TO STDOUT (libpq hands it over a row at a time)."""

    def __init__(self, rows: Iterator[memoryview]) -> None:
        self._rows, self._left = rows, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view, size = memoryview(buffer).cast("B"), len(buffer)
        n = min(size, len(self._left))
        view[:n], self._left = self._left[:n], self._left[n:]
        for row in self._rows if n < size else ():
            k = len(row)
            if n + k >= size:
                view[n:], self._left = row[:size - n], bytes(row[size - n:])
                return size
            view[n:n + k] = row
            n += k
        return n
