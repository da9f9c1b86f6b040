"""Engines for the central store: one per URL per process."""

from __future__ import annotations

from functools import cache

from sqlalchemy.engine import Engine

from jinshu.store import dialect


def normalize_url(url: str) -> str:
    """Plain ``postgresql://`` URLs use psycopg 3, the driver installed here."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@cache
def engine_for(url: str) -> Engine:
    return dialect.create_engine(normalize_url(url))
