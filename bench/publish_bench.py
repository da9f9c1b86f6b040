"""The exchange publish, measured by ``make bench`` on the table its ingest stored.

1. a full publish of ``ds_household_registration`` to ``ex_household_registration``;
2. the floor: ``COPY ds TO STDOUT`` piped into ``COPY ... FROM STDIN`` of a plain copy of the
   table (the same rows out and in, nothing decrypted, masked or guarded);
3. 1 % of the records change (a new name for every hundredth person), ingested as a new
   file (not timed), then the incremental publish (timed);
4. a check: a full publish after it gives the very same exchange table.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

DATASET = "household_registration"
CHANGED_SHARE = 100  # one record in this many changes


def _table_digest(store_url: str, table: str, key: str) -> tuple[int, str]:
    with psycopg.connect(store_url) as conn:
        query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY {k}), '')) "
                        "FROM {t} AS t").format(t=sql.Identifier(table), k=sql.Identifier(key))
        return conn.execute(query).fetchone()


def copy_to_from(store_url: str, table: str) -> float:
    """COPY the table out and into a plain copy of it, streamed; the seconds it took."""
    block = 8 << 20
    with psycopg.connect(store_url) as out, psycopg.connect(store_url) as into:
        into.execute(sql.SQL("CREATE TABLE copy_floor (LIKE {} INCLUDING DEFAULTS)").format(
            sql.Identifier(table)))
        into.commit()
        start = time.perf_counter()
        with out.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as source, \
                into.cursor().copy("COPY copy_floor FROM STDIN") as target:
            pending, size = [], 0
            for row in source:
                pending.append(row)
                size += len(row)
                if size >= block:
                    target.write(b"".join(pending))
                    pending, size = [], 0
            if pending:
                target.write(b"".join(pending))
        into.commit()
        seconds = time.perf_counter() - start
        into.execute("DROP TABLE copy_floor")
        into.commit()
    return seconds


def measure(home: Path, store_url: str, rows: int, seed: int, checkpoint) -> dict:
    """Full publish, the COPY floor, 1 % changed, incremental publish; seconds and checks."""
    from jinshu import pipeline
    from jinshu.catalog import load_catalog
    from jinshu.dev.generate import generate_frame, render_extract
    from jinshu.govern import audit
    from jinshu.protect import keys
    from jinshu.settings import Settings
    from jinshu.share import exchange
    from jinshu.store.engine import engine_for
    from jinshu.store.objects import open_store

    settings = Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url})
    audit.use_settings(settings)
    contracts = load_catalog(settings.catalog_dir)
    contract = contracts[DATASET]
    engine = engine_for(store_url)
    protector = keys.protector(settings)
    table, ex = contract.table, exchange.exchange_table(contract).name
    problems: list[str] = []

    start = time.perf_counter()
    published = exchange.publish(engine, contract, datetime.now(UTC), protector)
    full = time.perf_counter() - start
    checkpoint(store_url)
    floor = copy_to_from(store_url, table)

    frame = generate_frame(contract, rows, seed=seed)
    changed = frame.iloc[::CHANGED_SHARE].copy()
    changed["name"] = changed["name"] + "某"
    landing = open_store(settings.landing_url)
    landing.write(contract.landing_prefix + "changed.csv", render_extract(contract, changed, seed=seed)[1])
    del frame
    pipeline.run(settings, contracts, contract)
    checkpoint(store_url)
    start = time.perf_counter()
    exchange.publish(engine, contract, datetime.now(UTC), protector)
    incremental = time.perf_counter() - start
    with engine.connect() as conn:
        version = exchange.held_version(conn, contract)
    written = _written(engine, version)
    after = _table_digest(store_url, ex, "_subject_key")
    exchange.publish(engine, contract, datetime.now(UTC), protector, full=True)
    if _table_digest(store_url, ex, "_subject_key") != after:
        problems.append("the incremental publish left another exchange table than a full one")
    if after[0] != published:
        problems.append(f"{ex} holds {after[0]} rows after the change, {published} before")
    return {"rows": published, "full": full, "copy_to_from": floor, "changed": len(changed),
            "incremental": incremental, "written": written, "problems": problems}


def _written(engine, version) -> int:
    import json

    import sqlalchemy as sa

    from jinshu.store.tables import audit_log

    with engine.connect() as conn:
        details = conn.execute(sa.select(audit_log.c.details).where(
            audit_log.c.action == "publish_exchange").order_by(audit_log.c.seq.desc()).limit(1)).scalar()
    return json.loads(details)["written"]
