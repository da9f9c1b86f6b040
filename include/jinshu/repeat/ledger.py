"""The batch ledger: one row per dropped file and what became of its rows.

Statuses: ``received`` (waiting for ingest), ``loaded``, ``quarantined``
(the whole file or every row rejected), ``repeat_drop`` (the same bytes were
dropped before: nothing ingested again).

A file's name comes from outside and may hold personal data
(``张三_<ID>_手机<mobile>.csv``): the ledger keeps it only as
:func:`jinshu.protect.leakguard.shown` makes it (identifiers masked, control
characters escaped) and finds the object again by a keyed HMAC of its real key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import Contract
from jinshu.collect.guard import LIMIT_RULES
from jinshu.protect.leakguard import shown
from jinshu.store.objects import ObjectInfo, ObjectStore
from jinshu.store.tables import batches, quarantine

OPEN = "received"
# A batch quarantined under these rules never took its bytes in: the same file dropped again
# is a new batch, not a repeat (removed before it was read; refused for its size alone).
NOT_TAKEN_IN = frozenset({"file_missing"}) | LIMIT_RULES


@dataclass(frozen=True)
class Counts:
    rows_in: int
    stored: int
    duplicates: int
    quarantined: int

    def check(self) -> None:
        """Nothing is silently lost: every input row is accounted for."""
        if self.rows_in != self.stored + self.duplicates + self.quarantined:
            raise AssertionError(f"row counts do not add up: {self}")


def file_ref(index_key: bytes, key: str) -> str:
    """Keyed HMAC-SHA256 of an object key: matches the file without keeping its name."""
    return hmac.new(index_key, key.encode("utf-8"), hashlib.sha256).hexdigest()


def shown_key(key: str) -> str:
    """The key as the ledger stores and shows it: folders kept, the name through ``shown``."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/{shown(name, 160)}" if folder else shown(name, 160)


def batch_id_for(contract: Contract, ref: str, checksum: str, modified: datetime) -> str:
    """Deterministic: the same drop gets the same id on every retry."""
    digest = hashlib.sha256(
        f"{contract.id}|{ref}|{checksum}|{modified.isoformat()}".encode()).hexdigest()
    return f"{contract.id}-{digest[:12]}"


def batch_of(conn: Connection, dataset_id: str, obj: ObjectInfo, index_key: bytes) -> sa.Row | None:
    """The ledger row of this exact drop (real key, size, modification time), if recorded."""
    return conn.execute(sa.select(batches).where(
        batches.c.dataset_id == dataset_id, batches.c.file_ref == file_ref(index_key, obj.key),
        batches.c.file_size == obj.size, batches.c.file_modified == obj.modified,
    ).order_by(batches.c.received_at.desc()).limit(1)).first()


def seen(conn: Connection, dataset_id: str, obj: ObjectInfo, index_key: bytes) -> bool:
    """This exact drop is already in the ledger."""
    return batch_of(conn, dataset_id, obj, index_key) is not None


def record_drop(conn: Connection, contract: Contract, obj: ObjectInfo, checksum: str,
                now: datetime, index_key: bytes) -> str | None:
    """Ledger row for a file seen in the landing area; None if it is already known."""
    ref = file_ref(index_key, obj.key)
    batch_id = batch_id_for(contract, ref, checksum, obj.modified)
    if conn.execute(sa.select(batches.c.batch_id).where(batches.c.batch_id == batch_id)).first():
        return None
    earlier = conn.execute(
        sa.select(batches.c.batch_id)
        .where(batches.c.dataset_id == contract.id, batches.c.file_checksum == checksum,
               batches.c.status != "repeat_drop",
               ~sa.exists().where(quarantine.c.batch_id == batches.c.batch_id,
                                  quarantine.c.rule.in_(sorted(NOT_TAKEN_IN))))
        .order_by(batches.c.received_at).limit(1)
    ).scalar()
    conn.execute(batches.insert().values(
        batch_id=batch_id, dataset_id=contract.id, department=contract.department.code,
        file_key=shown_key(obj.key), file_ref=ref, file_checksum=checksum, file_size=obj.size,
        file_modified=obj.modified,
        received_at=now, status="repeat_drop" if earlier else OPEN, repeat_of=earlier,
        rows_in=0, stored=0, duplicates=0, quarantined=0,
        reason=f"the same file was already received as batch {earlier}" if earlier else None,
        finished_at=now if earlier else None,
    ))
    return batch_id


def object_key(store: ObjectStore, batch: sa.Row, index_key: bytes) -> str:
    """The real key of a batch's file in the landing area (its stored key may be masked)."""
    if batch.file_ref is None or file_ref(index_key, batch.file_key) == batch.file_ref:
        return batch.file_key
    folder = batch.file_key.rpartition("/")[0]
    for obj in store.list(f"{folder}/" if folder else ""):
        if file_ref(index_key, obj.key) == batch.file_ref:
            return obj.key
    raise FileNotFoundError(f"the file of batch {batch.batch_id} is no longer in the landing area")


def pending(conn: Connection, dataset_id: str) -> list[str]:
    rows = conn.execute(
        sa.select(batches.c.batch_id)
        .where(batches.c.dataset_id == dataset_id, batches.c.status == OPEN)
        .order_by(batches.c.received_at, batches.c.file_key)
    )
    return [r.batch_id for r in rows]


def get(conn: Connection, batch_id: str) -> sa.Row:
    row = conn.execute(sa.select(batches).where(batches.c.batch_id == batch_id)).first()
    if row is None:
        raise KeyError(f"no batch '{batch_id}' in the ledger")
    return row


def locked(conn: Connection, batch_id: str) -> sa.Row:
    """The batch's ledger row, locked until the transaction ends (its chunks' tasks may try
    to settle it at once)."""
    row = conn.execute(sa.select(batches).where(batches.c.batch_id == batch_id).with_for_update()).first()
    if row is None:
        raise KeyError(f"no batch '{batch_id}' in the ledger")
    return row


def close(conn: Connection, batch_id: str, status: str, counts: Counts, now: datetime,
          reason: str | None = None, encoding: str | None = None) -> None:
    counts.check()
    conn.execute(batches.update().where(batches.c.batch_id == batch_id).values(
        status=status, rows_in=counts.rows_in, stored=counts.stored,
        duplicates=counts.duplicates, quarantined=counts.quarantined,
        reason=reason, encoding=encoding, finished_at=now,
    ))


def summary(conn: Connection, dataset_id: str | None = None) -> list[sa.Row]:
    query = sa.select(batches).order_by(batches.c.received_at, batches.c.file_key)
    if dataset_id:
        query = query.where(batches.c.dataset_id == dataset_id)
    return list(conn.execute(query))
