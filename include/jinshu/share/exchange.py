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
Each row carries its source and acquisition date.

A publish run writes only what changed since the version the exchange holds
(:func:`changed_since`: records of batches loaded since, and of subjects whose
consent-based values were withdrawn since), replacing those records by their
natural key; the first run, a changed table shape (columns, masks) or a
contract migration publishes the whole table again. Either way it is one
transaction, so readers see the old version or the new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.catalog.concepts import source_of
from jinshu.evolve.migrate import AUDIT_ACTION as MIGRATED
from jinshu.govern import audit, incident
from jinshu.open.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, stamp
from jinshu.protect import crypto, leakguard, policy
from jinshu.repeat import authority
from jinshu.store import dialect
from jinshu.store.bulk import as_csv, bulk_load
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import (
    audit_log,
    batches,
    dataset_table,
    metadata,
    publications,
    withdrawals,
)
from jinshu.vocab import mask

CHUNK_ROWS = 200_000
CHANNEL = "exchange"


def exchange_key(contract: Contract) -> list[str] | None:
    """The columns of ``ex_<id>`` that identify a record (its natural key as the exchange
    holds it: an encrypted field by its blind index), or None when a key field leaves
    masked, so that only a full publish can replace a record."""
    encrypted = {f.name for f in policy.encrypted_fields(contract)}
    out = []
    for name in contract.natural_key:
        if name in encrypted:
            out.append(policy.blind_index_column(contract, name))
        elif policy.on_exit(contract.by_name[name], contract, policy.EXCHANGE) == "keep":
            out.append(name)
        else:
            return None
    return out


def _key_indexes(contract: Contract) -> list[str]:
    """Blind-index key columns the exchange table carries beside the subject pseudonym."""
    return [c for c in exchange_key(contract) or [] if c in policy.extra_index_columns(contract)]


def exchange_table(contract: Contract) -> sa.Table:
    name = f"ex_{contract.id}"
    if name in metadata.tables:
        return metadata.tables[name]
    key = exchange_key(contract)
    return sa.Table(
        name, metadata,
        *(sa.Column(f.name, sa.Text, comment=f.title) for f in contract.fields),
        sa.Column("_subject_key", sa.String(64), index=True),
        *(sa.Column(c, sa.String(64)) for c in _key_indexes(contract)),
        sa.Column(SOURCE_DEPARTMENT, sa.Text, nullable=False),
        sa.Column(SOURCE_DATASET, sa.String(64), nullable=False),
        sa.Column(ACQUIRED_ON, sa.String(10), nullable=False),
        *([sa.Index(f"ix_{name}_key", *key)] if key and key != ["_subject_key"] else []),
        comment=f"exchange: {contract.title}",
    )


def shape(contract: Contract) -> str:
    """A fingerprint of what an exchange row holds: its columns and how each field leaves.
    A version of another shape is published again whole."""
    exits = [(f.name, policy.on_exit(f, contract, policy.EXCHANGE), f.mask_kind)
             for f in contract.fields]
    text = json.dumps({"v": 1, "exits": exits, "key": exchange_key(contract),
                       "columns": [c.name for c in exchange_table(contract).columns]})
    return hashlib.sha256(text.encode()).hexdigest()


def for_exchange(frame: pd.DataFrame, contract: Contract,
                 protector: crypto.Protector | None = None,
                 catalog: dict[str, Contract] | None = None) -> pd.DataFrame:
    """Decrypt (every envelope is authenticated, even of a field masked whole), then mask what
    no consumer may see in the clear; stamp provenance. ``frame`` is read through
    :func:`jinshu.repeat.authority.resolved` (taken fields included)."""
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
    for column in _key_indexes(contract):
        out[column] = frame[column]
    return stamp(out, contract, frame["_acquired_at"])


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; the store writes them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Changes:
    """What changed in a dataset table since an exchange version, as a condition on its rows."""

    batches: list[str]  # loaded since
    subjects: list[str]  # consent-based values withdrawn since

    def rows(self, table: sa.Table) -> sa.ColumnElement[bool]:
        changed = [table.c._batch_id.in_(self.batches)] if self.batches else []
        if self.subjects:
            changed.append(table.c._subject_key.in_(self.subjects))
        return sa.or_(*changed) if changed else sa.false()


def changed_since(conn: Connection, contract: Contract, version: sa.Row | None,
                  catalog: dict[str, Contract] | None = None) -> Changes | None:
    """What changed in ``ds_<id>`` since the exchange's ``version``, from the ledger and the
    audit log: the batches loaded since and the subjects whose consent-based values were
    withdrawn since (their rows were rewritten). None when the whole table must be
    published again: no earlier version, a version of another shape, a contract
    migration since, or a batch loaded since into an authority the dataset takes a field
    from (any of its records may read a new value there).

    The audit log orders every change: an entry is appended inside the transaction that
    makes the change, one appender at a time, so an entry after the version's
    ``through_seq`` is a change the version does not hold.
    """
    if version is None or version.through_seq is None or version.shape != shape(contract):
        return None
    since = audit_log.c.seq > version.through_seq
    if conn.execute(sa.select(audit_log.c.seq).where(
            since, audit_log.c.action == MIGRATED,
            audit_log.c.subject.like(f"{contract.table}.%")).limit(1)).first():
        return None
    authorities = {source_of(catalog, contract, f.name).contract.id for f in contract.taken_fields}
    if authorities and conn.execute(sa.select(batches.c.batch_id).where(
            batches.c.dataset_id.in_(authorities), batches.c.status == "loaded",
            batches.c.batch_id.in_(sa.select(audit_log.c.subject).where(
                since, audit_log.c.action == "ingest"))).limit(1)).first():
        return None
    loaded = conn.execute(sa.select(batches.c.batch_id).where(
        batches.c.dataset_id == contract.id, batches.c.status == "loaded",
        batches.c.batch_id.in_(sa.select(audit_log.c.subject).where(
            since, audit_log.c.action == "ingest")))).scalars().all()
    withdrawn_at = conn.execute(sa.select(sa.func.min(audit_log.c.at)).where(
        since, audit_log.c.action == "consent_withdrawal",
        audit_log.c.subject.like(f"{contract.id}.%"))).scalar()
    subjects = [] if withdrawn_at is None else conn.execute(
        sa.select(withdrawals.c.subject_key).distinct().where(
            withdrawals.c.dataset_id == contract.id,
            withdrawals.c.honored_at >= datetime.fromisoformat(withdrawn_at))).scalars().all()
    return Changes(sorted(loaded), sorted(subjects))


def held_version(conn: Connection, contract: Contract) -> sa.Row | None:
    """The exchange's current version of the dataset: its latest publication."""
    return conn.execute(sa.select(publications).where(
        publications.c.channel == CHANNEL, publications.c.dataset_id == contract.id)
        .order_by(publications.c.id.desc()).limit(1)).first()


def publish(engine: Engine, contract: Contract, now: datetime,
            protector: crypto.Protector | None = None, heads: ObjectStore | None = None,
            catalog: dict[str, Contract] | None = None, full: bool = False) -> int:
    """Bring ``ex_<id>`` to the current masked contents (only what changed since its version,
    unless ``full``); returns the rows it holds.

    A field the dataset takes from its concept's authority is read there (``catalog``
    names the authorities; needed only when the dataset takes one).

    A field the dataset takes from its concept's authority is read there (``catalog``
    names the authorities; needed only when the dataset takes one).

    Then the audit chain's head goes to ``heads`` (:func:`jinshu.govern.audit.publish_head`).

    Refused while the dataset is suspended (:class:`jinshu.govern.incident.DatasetSuspended`);
    an incident opened meanwhile waits for it (:func:`jinshu.govern.incident.dataset_lock`).
    Each chunk passes the leak guard before it is loaded: a hit rolls the publish back
    (the previous contents stay), opens an incident and raises :class:`LeakFound`.
    """
    with incident.dataset_lock(engine, contract.id):
        rows = _publish(engine, contract, now, protector, catalog, full)
    if heads is not None:
        audit.publish_head(engine, heads, now)
    return rows


def _publish(engine: Engine, contract: Contract, now: datetime,
             protector: crypto.Protector | None, catalog: dict[str, Contract] | None,
             full: bool) -> int:
    """Rows are read on one connection, from one snapshot, while another writes them: the
    version then holds exactly the changes recorded up to the snapshot's last audit entry."""
    target = exchange_table(contract)
    target.create(engine, checkfirst=True)
    for index in target.indexes:
        index.create(engine, checkfirst=True)  # a table made before the index was declared
    try:
        with dialect.snapshot(engine) as reader, engine.begin() as conn:
            through = reader.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar() or 0
            incident.ensure_available(conn, contract.id)
            version = held_version(reader, contract)
            changes = None if full or not exchange_key(contract) else changed_since(
                reader, contract, version, catalog)
            if changes is None:
                conn.execute(target.delete())
                written, newest = _write(reader, conn, contract, protector, catalog, None, target)
                rows, details = written, {"written": written}
            else:
                written, removed, newest = _apply(reader, conn, contract, protector, catalog,
                                                  changes)
                rows = version.rows - removed + written
                newest = max((_utc(t) for t in (newest, version.acquired_at) if t), default=None)
                details = {"written": written, "replaced": removed,
                           "batches": len(changes.batches), "subjects": len(changes.subjects)}
            audit.append(conn, "publish_exchange", contract.id,
                         {"rows": rows, "table": target.name, **details}, now=now)
            conn.execute(publications.insert().values(
                channel=CHANNEL, dataset_id=contract.id, published_at=now, acquired_at=newest,
                rows=rows, suppressed_rows=0, location=target.name, through_seq=through,
                shape=shape(contract)))
    except leakguard.LeakFound as leak:  # rolled back: the previous contents stay
        incident.leak_blocked(engine, contract.id, CHANNEL, leak, now)
        raise
    return rows


def _write(reader: Connection, conn: Connection, contract: Contract,
           protector: crypto.Protector | None, catalog: dict[str, Contract] | None,
           where: sa.ColumnElement[bool] | None, into: sa.Table) -> tuple[int, datetime | None]:
    """The masked rows of the dataset table's current versions (``where`` they match), taken
    fields read at their authority, read on ``reader``, leak-guarded chunk by chunk, into
    ``into`` on ``conn``; (rows written, their newest acquisition)."""
    read = authority.resolved(contract, catalog)
    query = read.select(list(read.columns))
    query = query if where is None else query.where(where)
    written, newest = 0, None
    for chunk in dialect.read_frames(reader, query, CHUNK_ROWS):
        if chunk.empty:
            continue
        out = for_exchange(chunk, contract, protector, catalog)
        leakguard.guard(f"{into.name} rows {written + 1}-{written + len(out)}", as_csv(out))
        bulk_load(conn, into, out)
        written += len(out)
        latest = pd.to_datetime(chunk["_acquired_at"], utc=True, format="ISO8601").max()
        newest = latest if newest is None else max(newest, latest)
    return written, newest.to_pydatetime() if newest is not None else None


def _apply(reader: Connection, conn: Connection, contract: Contract,
           protector: crypto.Protector | None, catalog: dict[str, Contract] | None,
           changes: Changes) -> tuple[int, int, datetime | None]:
    """The changed records replace their earlier versions, matched by natural key;
    (rows written, rows replaced, newest acquisition)."""
    target = exchange_table(contract)
    key = exchange_key(contract)
    stage = sa.Table(f"stage_{target.name}", sa.MetaData(),
                     *(sa.Column(c.name, c.type) for c in target.columns), prefixes=["TEMPORARY"])
    stage.create(conn)
    try:
        written, newest = _write(reader, conn, contract, protector, catalog,
                                 changes.rows(dataset_table(contract)), stage)
        staged = sa.select(*(stage.c[k] for k in key))
        removed = conn.execute(target.delete().where(sa.tuple_(*(target.c[k] for k in key)).in_(staged))
                               .execution_options(preserve_rowcount=True)).rowcount
        conn.execute(target.insert().from_select([c.name for c in stage.c], sa.select(stage)))
    finally:
        stage.drop(conn)
    return written, removed, newest
