"""The bare endpoint the exchange benchmark compares against: FastAPI + a psycopg pool + the same
keyset SQL + orjson; no credential check, no grant, no masking, no pseudonyms, no audit.

Run by bench/exchange_bench.py as ``uvicorn exchange_bare:app`` with ``BARE_PG_URL``,
``BARE_TABLE``, ``BARE_COLUMNS`` and ``BARE_KEY`` set.
"""

from __future__ import annotations

import os
from decimal import Decimal

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from psycopg import sql
from psycopg_pool import ConnectionPool

TABLE, KEY = os.environ["BARE_TABLE"], os.environ["BARE_KEY"]
COLUMNS = os.environ["BARE_COLUMNS"].split(",")
pool = ConnectionPool(os.environ["BARE_PG_URL"], min_size=4, max_size=15, open=True)
QUERY = sql.SQL("SELECT {columns} FROM {table} WHERE {key} > %s ORDER BY {key} LIMIT %s").format(
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), table=sql.Identifier(TABLE),
    key=sql.Identifier(KEY))
app = FastAPI()


def _default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


@app.get("/bare/records")
def records(cursor: str = "", limit: int = 1000) -> Response:
    with pool.connection() as conn:
        rows = conn.execute(QUERY, (cursor, limit)).fetchall()
    body = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    last = rows[-1][COLUMNS.index(KEY)] if len(rows) == limit else None
    return Response(orjson.dumps({"rows": body, "next_cursor": last}, default=_default),
                    media_type="application/json")
