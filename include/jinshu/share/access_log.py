"""Every exchange response that carries data is recorded, by group commit.

Requests never queue on one lock: each handler puts its record in an
in-process queue and waits for it to be durable; one writer thread takes
whatever has accumulated (up to :data:`MAX_BATCH`), writes those rows to
``exchange_access`` in one transaction with **one** hash-chained audit entry
(``exchange_access``) carrying the batch's size, id range and SHA-256 digest,
and releases the waiting handlers. Under load the batches grow by themselves
while the previous one commits; idle, a record is written at once. A handler
sends its data only after its record committed; if the write fails, it sends
none (:func:`verify_batch` recomputes a batch's digest).
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.settings import REPORTS_SQL_DIR
from jinshu.store import dialect
from jinshu.store.tables import audit_log, dataset_table, exchange_access

MAX_BATCH = 500


@dataclass(frozen=True)
class Record:
    """One response with data: who, what, under which grant and purpose, which subjects."""

    at: datetime
    principal: str
    department: str
    dataset_id: str
    version: str
    kind: str  # page | lookup
    fields: tuple[str, ...]
    clear_fields: tuple[str, ...]
    rows: int
    purpose: str
    grant_id: int | None
    key_first: str | None
    key_last: str | None
    checksum: str | None = None  # the delivered rows' checksum, as stamped on the page

    def row(self) -> dict:
        values = asdict(self)
        values["fields"] = json.dumps(list(self.fields))
        values["clear_fields"] = json.dumps(list(self.clear_fields))
        return values


def digest(rows: list[dict]) -> str:
    """SHA-256 over the batch's rows in id order, as canonical JSON lines."""
    lines = (json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) for r in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _canonical(row: dict) -> dict:
    keep = {c.name for c in exchange_access.columns} - {"audit_seq"}
    if row.get("checksum") is None:  # a lookup, or a row logged before pages' checksums were
        keep.discard("checksum")     # (revision 0011): its digest was made without the key
    out = {k: row[k] for k in sorted(keep)}
    at = out["at"] if out["at"].tzinfo else out["at"].replace(tzinfo=UTC)
    out["at"] = at.astimezone(UTC).isoformat()
    return out


class AccessLog:
    """The group-commit writer of ``exchange_access`` (one thread per process)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[tuple[Record, Future]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.flushes = 0

    def submit(self, record: Record) -> Future:
        """Queue ``record``; the future resolves to its audit ``seq`` once committed."""
        self._start()
        done: Future = Future()
        self._queue.put((record, done))
        return done

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="jinshu-access-log",
                                                    daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                seq = self._write([record for record, _ in batch])
            except Exception as error:  # every waiting handler refuses to send its data
                for _, done in batch:
                    done.set_exception(error)
                continue
            for _, done in batch:
                done.set_result(seq)

    def _write(self, records: list[Record]) -> int:
        with self._engine.begin() as conn:
            start = _next_id(conn)
            rows = [{"id": start + i, **r.row()} for i, r in enumerate(records)]
            seq = audit.append(conn, "exchange_access", "exchange", {
                "accesses": len(rows), "first_id": rows[0]["id"], "last_id": rows[-1]["id"],
                "digest": digest([_canonical(r) for r in rows])}, now=records[-1].at)
            conn.execute(exchange_access.insert(), [{**r, "audit_seq": seq} for r in rows])
        self.flushes += 1
        return seq


def _next_id(conn: Connection) -> int:
    """The next id, under the audit chain's writer lock (held to the commit): ids and the
    digest's id range never interleave with another process's batch."""
    dialect.serialize_writers(conn, audit_log)
    return (conn.execute(sa.select(sa.func.max(exchange_access.c.id))).scalar() or 0) + 1


def verify_batch(conn: Connection, seq: int) -> bool:
    """The rows of audit entry ``seq`` still hash to the digest it carries."""
    details = json.loads(conn.execute(sa.select(audit_log.c.details)
                                      .where(audit_log.c.seq == seq)).scalar_one())
    rows = conn.execute(sa.select(exchange_access).where(exchange_access.c.audit_seq == seq)
                        .order_by(exchange_access.c.id)).mappings().all()
    recomputed = digest([_canonical(dict(r)) for r in rows])
    return len(rows) == details["accesses"] and recomputed == details["digest"]


SUBJECT_SQL = REPORTS_SQL_DIR / "subject_access.sql"


def subject_report(conn: Connection, subject_key: str, contracts: dict[str, Contract]) -> list[dict]:
    """Every recorded exchange response that carried the subject's records, oldest first.

    A page is recorded as the key range it spans, so only datasets that hold the subject count
    (a record stored after a read inside its range still shows: over-reported, never missed).
    """
    rows = conn.execute(sa.text(SUBJECT_SQL.read_text(encoding="utf-8")),
                        {"subject_key": subject_key}).mappings().all()
    held = {d for d in {r["dataset_id"] for r in rows} if d in contracts
            and _holds(conn, contracts[d], subject_key)}
    return [{**dict(r), "at": _iso(r["at"]), "fields": json.loads(r["fields"]),
             "clear_fields": json.loads(r["clear_fields"])} for r in rows if r["dataset_id"] in held]


def _holds(conn: Connection, contract: Contract, subject_key: str) -> bool:
    table = dataset_table(contract)
    return conn.execute(sa.select(table.c[SUBJECT_KEY]).where(table.c[SUBJECT_KEY] == subject_key)
                        .limit(1)).first() is not None


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat(
        timespec="seconds")
