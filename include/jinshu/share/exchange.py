"""The sharing exchange's publication: the masked snapshot each version must pass.

Departments do not read this table: they read through the exchange API
(:mod:`jinshu.share.service`), which serves the dataset tables under each
caller's access. A publication here is what makes a version servable: its
rows pass the leak guard, and its ``publications`` row (channel ``exchange``,
``acquired_at``) is the version the API stamps on every response.

Grain of ``ex_<id>``: one row per stored record (its current version only:
earlier versions never leave the store) of a dataset whose sharing class is
unconditional or conditional. Personal and trade-secret fields are
masked, because no consumer holds a grant to the clear value yet; the
subject pseudonym stays so departments can match records without raw IDs.
Each row carries its source and acquisition date. A publish run replaces a
table's contents in one transaction, so readers see the old or the new.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern import audit, incident
from jinshu.open.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, stamp
from jinshu.protect import crypto, leakguard, policy
from jinshu.repeat import authority
from jinshu.store import versions
from jinshu.store.bulk import as_csv, bulk_load
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import dataset_table, metadata, publications
from jinshu.vocab import mask

CHUNK_ROWS = 200_000


def exchange_table(contract: Contract) -> sa.Table:
    name = f"ex_{contract.id}"
    if name in metadata.tables:
        return metadata.tables[name]
    return sa.Table(
        name, metadata,
        *(sa.Column(f.name, sa.Text, comment=f.title) for f in contract.fields),
        sa.Column("_subject_key", sa.String(64), index=True),
        sa.Column(SOURCE_DEPARTMENT, sa.Text, nullable=False),
        sa.Column(SOURCE_DATASET, sa.String(64), nullable=False),
        sa.Column(ACQUIRED_ON, sa.String(10), nullable=False),
        comment=f"exchange: {contract.title}",
    )


def for_exchange(frame: pd.DataFrame, contract: Contract,
                 protector: crypto.Protector | None = None,
                 catalog: dict[str, Contract] | None = None) -> pd.DataFrame:
    """Decrypt, then mask what no consumer may see in the clear; stamp provenance. ``frame``
    is read through :func:`jinshu.repeat.authority.resolved` (taken fields included)."""
    if policy.encrypted_fields(contract):
        if protector is None:
            raise ValueError(f"{contract.id} has encrypted fields: publishing needs the keys")
        frame = protector.reveal(frame, contract)
    frame = authority.reveal(frame, contract, catalog, protector)
    out = pd.DataFrame(index=frame.index)
    for f in contract.fields:
        out[f.name] = policy.masked_for_exit(mask.as_text(frame[f.name]), f, contract,
                                             policy.EXCHANGE)
    out["_subject_key"] = frame["_subject_key"]
    return stamp(out, contract, frame["_acquired_at"])


def publish(engine: Engine, contract: Contract, now: datetime,
            protector: crypto.Protector | None = None, heads: ObjectStore | None = None,
            catalog: dict[str, Contract] | None = None) -> int:
    """Replace ``ex_<id>`` with the current masked contents; returns rows published.

    A field the dataset takes from its concept's authority is read there (``catalog``
    names the authorities; needed only when the dataset takes one).

    Then the audit chain's head goes to ``heads`` (:func:`jinshu.govern.audit.publish_head`).

    Refused while the dataset is suspended (:class:`jinshu.govern.incident.DatasetSuspended`);
    an incident opened meanwhile waits for it (:func:`jinshu.govern.incident.dataset_lock`).
    Each chunk passes the leak guard before it is loaded: a hit rolls the replace back
    (the previous contents stay), opens an incident and raises :class:`LeakFound`.
    """
    with incident.dataset_lock(engine, contract.id):
        rows = _publish(engine, contract, now, protector, catalog)
    if heads is not None:
        audit.publish_head(engine, heads, now)
    return rows


def _publish(engine: Engine, contract: Contract, now: datetime,
             protector: crypto.Protector | None, catalog: dict[str, Contract] | None) -> int:
    source, target = dataset_table(contract), exchange_table(contract)
    read = authority.resolved(contract, catalog)
    target.create(engine, checkfirst=True)
    rows = 0
    try:
        with engine.begin() as conn:
            incident.ensure_available(conn, contract.id)
            conn.execute(target.delete())
            newest = conn.execute(sa.select(sa.func.max(source.c._acquired_at))
                                  .where(versions.current(source))).scalar()
            for chunk in pd.read_sql(read.select(list(read.columns)), conn, chunksize=CHUNK_ROWS,
                                     dtype_backend="pyarrow"):
                out = for_exchange(chunk, contract, protector, catalog)
                leakguard.guard(f"{target.name} rows {rows + 1}-{rows + len(out)}", as_csv(out))
                bulk_load(conn, target, out)
                rows += len(chunk)
            audit.append(conn, "publish_exchange", contract.id, {"rows": rows, "table": target.name},
                         now=now)
            conn.execute(publications.insert().values(
                channel="exchange", dataset_id=contract.id, published_at=now, acquired_at=newest,
                rows=rows, suppressed_rows=0, location=target.name))
    except leakguard.LeakFound as leak:  # rolled back: the previous contents stay
        incident.leak_blocked(engine, contract.id, "exchange", leak, now)
        raise
    return rows
