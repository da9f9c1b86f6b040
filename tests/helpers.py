"""Helpers shared by tests: settings for a scenario, one file through every stage."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import psycopg
import sqlalchemy as sa

from jinshu import pipeline
from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.protect import crypto, keys, policy
from jinshu.protect.keyring import Keyring
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.tables import batches, quarantine

STAGES = tuple(stage.run for stage in pipeline.BEFORE_LOAD)  # every stage before the load


def make_settings(home: Path, store_url: str | None = None, landing_url: str | None = None,
                  open_data_url: str | None = None, s3_endpoint_url: str | None = None,
                  stage_url: str | None = None, chunk_rows: int | None = None) -> Settings:
    env = {"JINSHU_HOME": str(home)}
    for key, value in (("JINSHU_STORE_URL", store_url), ("JINSHU_LANDING_URL", landing_url),
                       ("JINSHU_OPEN_DATA_URL", open_data_url),
                       ("JINSHU_S3_ENDPOINT_URL", s3_endpoint_url), ("JINSHU_STAGE_URL", stage_url),
                       ("JINSHU_CHUNK_ROWS", chunk_rows and str(chunk_rows))):
        if value:
            env[key] = value
    settings = Settings.from_env(env)
    if not settings.generates_keys:  # as production: keys exist before the first run
        provision_keys(settings)
    audit.use_settings(settings)
    return settings


def provision_keys(settings: Settings) -> None:
    """The keys folder an operator would provision (index, audit and data keys)."""
    import os

    settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = {"pseudonym.key": os.urandom(32).hex(), "audit.key": os.urandom(32).hex(),
             "data-keys.json": Keyring("k1", {"k1": os.urandom(32)}, "test").dumps()}
    for name, text in files.items():
        if not (settings.keys_dir / name).exists():
            (settings.keys_dir / name).write_text(text)


@dataclass
class Outcome:
    batch: sa.Row
    quarantine: list[sa.Row]


def drop(settings: Settings, contract: Contract, name: str, data: bytes) -> str:
    """Put a file in the contract's landing area; returns its key."""
    key = contract.landing_prefix + name
    open_store(settings.landing_url, settings.s3_endpoint_url).write(key, data)
    return key


def run_stages(settings: Settings, contracts: dict[str, Contract], contract: Contract) -> list[str]:
    """Every waiting batch of ``contract`` through every stage, as the DAG runs them."""
    return pipeline.run(settings, contracts, contract)


def ingest_file(settings: Settings, contracts: dict[str, Contract], contract: Contract,
                name: str, data: bytes) -> Outcome:
    """Drop one file, ingest it, and return its ledger row and quarantine rows."""
    key = drop(settings, contract, name, data)
    run_stages(settings, contracts, contract)
    return outcome_of(settings, key)


def outcome_of(settings: Settings, key: str) -> Outcome:
    with engine_for(settings.store_url).connect() as conn:
        batch = conn.execute(sa.select(batches).where(batches.c.file_key == key)
                             .order_by(batches.c.received_at.desc())).first()
        rows = conn.execute(sa.select(quarantine).where(quarantine.c.batch_id == batch.batch_id)
                            .order_by(quarantine.c.source_row)).all()
    return Outcome(batch, rows)


def table_rows(settings: Settings, table: str) -> list[sa.Row]:
    """Rows exactly as stored (sensitive fields as ciphertext envelopes)."""
    with engine_for(settings.store_url).connect() as conn:
        return conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()


def stored_records(settings: Settings, contract: Contract) -> list[SimpleNamespace]:
    """A dataset's stored rows with sensitive fields decrypted, one namespace per row."""
    with engine_for(settings.store_url).connect() as conn:
        frame = pd.read_sql(sa.text(f'SELECT * FROM "{contract.table}" ORDER BY _record_hash'),
                            conn)
    frame = keys.protector(settings).reveal(frame, contract)
    return [SimpleNamespace(**row) for row in frame.astype(object).where(frame.notna(), None)
            .to_dict("records")]


def original_of(settings: Settings, contract: Contract, quarantined: sa.Row) -> str:
    """A quarantined row's values as received (decrypted where the dataset is sensitive)."""
    if not policy.encrypted_fields(contract):
        return quarantined.original
    sealed = pd.Series([quarantined.original], dtype="str")
    row = crypto.quarantine_row(quarantined.batch_id, quarantined.source_row)
    return keys.protector(settings).decrypt(sealed, contract, crypto.ORIGINALS,
                                            pd.Series([row], dtype="str"))[0]


def archive_of(settings: Settings, outcome: Outcome) -> bytes:
    """A whole quarantined file as received, read back only through the platform's keys."""
    from jinshu.ingest.quarantine import read_archive

    [kept] = [q for q in outcome.quarantine if q.source_row is None]
    return read_archive(settings, outcome.batch, kept.original)


@contextlib.contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A fresh, empty database on ``server``, dropped on exit; yields its URL."""
    name = f"jinshu_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_buckets(s3_endpoint: str) -> dict[str, str]:
    """Create landing, open-data, quality and stage buckets; returns their s3:// URLs."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    suffix = uuid.uuid4().hex[:8]
    urls = {}
    for role in ("landing", "open-data", "quality", "stage"):
        bucket = f"jinshu-{role}-{suffix}"
        client.create_bucket(Bucket=bucket)
        urls[role] = f"s3://{bucket}"
    return urls
