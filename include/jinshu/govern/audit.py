"""Tamper-evident audit log: every entry carries the hash of the one before.

Grain of ``audit_log``: one row per recorded action (key ``seq``, 1, 2, 3…).
``hash = SHA-256(prev_hash | seq | at | actor | action | subject | details)``,
so changing, deleting or reordering any entry breaks the chain from that
entry on, and :func:`verify` names the first broken one. Details hold counts
and ids, never personal values. Cutting entries off the end is not visible
from the chain alone: record the head (:func:`head`, ``jinshu audit head``)
somewhere else, e.g. in the operations log, and verify against it
(``jinshu audit verify --anchor SEQ:HASH``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.store import dialect
from jinshu.store.tables import audit_log

GENESIS = "0" * 64
PLATFORM = "jinshu-platform"  # the actor of what the platform does on its own: the DAGs' owner

def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               details: str) -> str:
    fields = (prev_hash, str(seq), at, actor, action, subject, details)
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def append(conn: Connection, action: str, subject: str, details: dict | None = None,
           actor: str = PLATFORM, now: datetime | None = None) -> int:
    """Add one entry inside the caller's transaction; returns its ``seq``."""
    dialect.serialize_writers(conn, audit_log)  # one appender at a time, or the chain forks
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash)
                        .order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    body = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str)
    conn.execute(audit_log.insert().values(
        seq=seq, at=at, actor=actor, action=action, subject=subject, details=body,
        prev_hash=prev, hash=entry_hash(prev, seq, at, actor, action, subject, body)))
    return seq


@dataclass(frozen=True)
class Verdict:
    entries: int
    first_broken: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_broken is None


def head(conn: Connection) -> str:
    """``seq:hash`` of the latest entry: an anchor to keep outside the store."""
    row = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash)
                       .order_by(audit_log.c.seq.desc()).limit(1)).first()
    return f"{row.seq}:{row.hash}" if row else f"0:{GENESIS}"


def verify(conn: Connection, anchor: str | None = None) -> Verdict:
    """Walk the chain in ``seq`` order; name the first entry that does not hold.

    With ``anchor`` (an earlier :func:`head`), entries up to it must still be there
    unchanged: a log cut back below the anchor is broken at the first missing entry.
    """
    verdict = _walk(conn)
    if anchor is None or not verdict.intact:
        return verdict
    seq, _, anchored_hash = anchor.partition(":")
    if not seq.isdigit() or len(anchored_hash) != 64:
        raise ValueError(f"anchor '{anchor}' is not SEQ:HASH as `jinshu audit head` prints it")
    if int(seq) > verdict.entries:
        return Verdict(verdict.entries, verdict.entries + 1,
                       f"entries {verdict.entries + 1}-{seq} were cut off the end")
    row = conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == int(seq))).first()
    if int(seq) and row.hash != anchored_hash:
        return Verdict(verdict.entries, int(seq), "differs from the anchored entry (log rebuilt)")
    return verdict


def _walk(conn: Connection) -> Verdict:
    expected_seq, prev = 1, GENESIS
    count = 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        count += 1
        if row.seq != expected_seq:
            return Verdict(count, expected_seq, f"entry {expected_seq} is missing")
        if row.prev_hash != prev:
            return Verdict(count, row.seq, "does not follow the entry before it "
                                           "(deleted or reordered entries)")
        if entry_hash(row.prev_hash, row.seq, row.at, row.actor, row.action, row.subject,
                      row.details) != row.hash:
            return Verdict(count, row.seq, "its content was changed after it was written")
        expected_seq, prev = row.seq + 1, row.hash
    return Verdict(count)
