"""Helpers shared by tests: settings for a scenario, one file through every stage."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import psycopg
import sqlalchemy as sa
import yaml

from jinshu import pipeline
from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.protect import crypto, keys, policy
from jinshu.protect.keyring import Keyring
from jinshu.settings import DEFAULT_CATALOG_DIR, Settings
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


def stored_records(settings: Settings, contract: Contract,
                   every_version: bool = False) -> list[SimpleNamespace]:
    """A dataset's stored records (current versions; ``every_version``: earlier ones too, oldest
    first) with sensitive fields decrypted, one namespace per row."""
    where = "" if every_version else " WHERE _valid_to IS NULL"
    order = "_valid_from, _record_hash" if every_version else "_record_hash"
    with engine_for(settings.store_url).connect() as conn:
        frame = pd.read_sql(sa.text(f'SELECT * FROM "{contract.table}"{where} ORDER BY {order}'),
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


def catalog_copy(folder: Path, file: str, change: Callable[[dict], object]) -> Path:
    """A copy of the shipped catalog in ``folder`` with one contract (``file``, relative to the
    catalog, or ``concepts.yaml``) changed in place by ``change``; returns ``folder``."""
    shutil.copytree(DEFAULT_CATALOG_DIR, folder)
    path = folder / file
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(service) -> Iterator[str]:
    """The exchange API (``jinshu.share.api``) over ``service`` on uvicorn, on a free port of
    loopback; yields its base URL."""
    import uvicorn

    from jinshu.share.api import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(lambda: service), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
