"""Tamper-evident audit log: a keyed hash chain whose head is published outside the store.

Grain of ``audit_log``: one row per recorded action (key ``seq``, 1, 2, 3…).
``hash = HMAC-SHA256(audit key, prev_hash | seq | at | actor | action | subject | details)``
under the audit key (:func:`jinshu.protect.keys.audit_key`), which is held
outside the store: changing, deleting or reordering entries breaks the chain
from that entry on, recomputing the hashes without the key does not mend it,
and :func:`verify` names the first broken entry. Cutting entries off the end
is visible against a head kept elsewhere: every publication writes the head
to ``audit/heads/<seq>.json`` in the heads store (:func:`publish_head`;
``JINSHU_AUDIT_HEADS_URL``, by default the open-data store; an operator can
make that bucket write-once), and ``jinshu audit verify`` checks the newest.

Actors are identities, not claims: ``cli:<OS user>`` for the command line,
``airflow:<dag_id>.<task_id>`` in a task (:func:`acting_as`), else ``jinshu``.
Details hold counts and ids, never personal values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.protect import keys
from jinshu.settings import Settings, get_settings
from jinshu.store import dialect
from jinshu.store.engine import normalize_url
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import audit_log

GENESIS = "0" * 64
PLATFORM = "jinshu-platform"  # what the platform does on its own (the DAGs' owner)
HEADS = "audit/heads/"
_ACTOR: ContextVar[str] = ContextVar("jinshu_audit_actor", default=PLATFORM)
_SETTINGS: dict[str, Settings] = {}  # store URL -> the settings that find its audit key
_KEYS: dict[str, bytes] = {}  # store URL -> its audit key, once found (and checked)


def acting_as(actor: str) -> None:
    """Record ``actor`` on entries this context appends without naming one."""
    _ACTOR.set(actor)


def _fields(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
            details: str) -> bytes:
    return "\x1f".join((prev_hash, str(seq), at, actor, action, subject, details)).encode()


def entry_hash(key: bytes, prev_hash: str, seq: int, at: str, actor: str, action: str,
               subject: str, details: str) -> str:
    """The entry's MAC under the audit key."""
    return hmac.new(key, _fields(prev_hash, seq, at, actor, action, subject, details),
                    hashlib.sha256).hexdigest()


def _url(url: str | sa.URL) -> str:
    return sa.make_url(normalize_url(str(url)) if isinstance(url, str) else url
                       ).render_as_string(hide_password=False)


def use_settings(settings: Settings) -> None:
    """Sign and verify the chain of ``settings``' store with the audit key these settings
    find, in this process; without this call, the process's own settings are used."""
    url = _url(settings.store_url)
    _SETTINGS[url] = settings
    _KEYS.pop(url, None)


def _key(conn: Connection) -> bytes:
    url = _url(conn.engine.url)
    if url not in _KEYS:
        settings = _SETTINGS.get(url) or get_settings()
        if _url(settings.store_url) != url:
            raise keys.MissingKey("no audit key for this store in this process: its settings "
                                  "point at another store. Fix: run with this store's settings "
                                  "(JINSHU_STORE_URL and JINSHU_AUDIT_KEY)")
        _KEYS[url] = keys.audit_key(settings, conn)
    return _KEYS[url]


def append(conn: Connection, action: str, subject: str, details: dict | None = None,
           actor: str | None = None, now: datetime | None = None) -> int:
    """Add one entry inside the caller's transaction; returns its ``seq``."""
    key = _key(conn)
    actor = actor or _ACTOR.get()
    dialect.serialize_writers(conn, audit_log)  # one appender at a time, or the chain forks
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash)
                        .order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    body = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str)
    conn.execute(audit_log.insert().values(
        seq=seq, at=at, actor=actor, action=action, subject=subject, details=body,
        prev_hash=prev, hash=entry_hash(key, prev, seq, at, actor, action, subject, body)))
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


def publish_head(engine: Engine, store: ObjectStore, now: datetime) -> str:
    """Write the chain's head to ``audit/heads/<seq>.json`` in ``store``; returns the key.

    A head already published is left as it is (the store may be write-once)."""
    with engine.connect() as conn:
        seq, _, mac = head(conn).partition(":")
    key = f"{HEADS}{int(seq):012d}.json"
    if not store.list(key):
        store.write(key, json.dumps({"seq": int(seq), "hash": mac,
                                     "published_at": now.astimezone(UTC).isoformat()}).encode())
    return key


def published_head(store: ObjectStore) -> str | None:
    """``seq:hash`` of the newest head published to ``store``, or None."""
    published = [o.key for o in store.list(HEADS) if o.key.endswith(".json")]
    if not published:
        return None
    doc = json.loads(store.read(max(published)))
    return f"{doc['seq']}:{doc['hash']}"


def verify(conn: Connection, anchor: str | None = None) -> Verdict:
    """Walk the chain in ``seq`` order; name the first entry that does not hold.

    With ``anchor`` (an earlier :func:`head`, or :func:`published_head`), entries up to
    it must still be there unchanged: a log cut back below it is broken at the first
    missing entry. Raises :class:`jinshu.protect.keyring.WrongKey` when the audit key
    is not the one the store was written with.
    """
    verdict = _walk(conn, _key(conn))
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


def _walk(conn: Connection, key: bytes) -> Verdict:
    expected_seq, prev = 1, GENESIS
    count = 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        count += 1
        if row.seq != expected_seq:
            return Verdict(count, expected_seq, f"entry {expected_seq} is missing")
        if row.prev_hash != prev:
            return Verdict(count, row.seq, "does not follow the entry before it "
                                           "(deleted or reordered entries)")
        fields = (row.prev_hash, row.seq, row.at, row.actor, row.action, row.subject, row.details)
        if not hmac.compare_digest(entry_hash(key, *fields), row.hash):
            unkeyed = hashlib.sha256(_fields(*fields)).hexdigest() == row.hash
            return Verdict(count, row.seq, "its hash is unkeyed: written before the log was "
                           "keyed, or recomputed without the audit key" if unkeyed else
                           "its content was changed after it was written")
        expected_seq, prev = row.seq + 1, row.hash
    return Verdict(count)
