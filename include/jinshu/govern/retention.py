"""Retention: the copies the platform holds outside the central store, and for how long.

Three kinds of copy hold a department's values outside the store, each kept
as long as the dataset's contract says (:class:`jinshu.catalog.Retention`):

* **raw extracts** in the landing area, counted from the day their batch
  closed (loaded, quarantined or a repeat drop);
* **quarantined files**, the sealed copies under ``_quarantine/<batch>/``,
  counted from the same day;
* **stage folders**, a batch's clear stage files in the work folder: removed
  at once when the batch is closed (a failed stage left them behind), else
  when nothing was written there for ``stage_file_days``.

:func:`sweep` removes what has expired from local folders and S3 alike and
audits each sweep: counts per dataset and the batch ids concerned, never a
file name (a department may put a person's name in one). A file the ledger
has not recorded yet is never touched, and a second sweep removes nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jinshu.catalog import Contract, Retention
from jinshu.collect.consent import consent_contract
from jinshu.govern import audit
from jinshu.protect.keys import pseudonym_key
from jinshu.repeat import ledger
from jinshu.settings import Settings
from jinshu.store import workspace
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore, open_store
from jinshu.store.tables import quarantine
from jinshu.store.workspace import Workspace

ARCHIVES = "_quarantine/"  # where ingest keeps whole quarantined files (jinshu.ingest.quarantine)
KINDS = ("raw_extracts", "quarantined_files", "stage_folders")
DEFAULT = Retention()


@dataclass
class Sweep:
    """What one sweep removed: counts per dataset and kind, and the batches concerned."""

    at: datetime
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    batches: dict[str, list[str]] = field(default_factory=dict)

    def add(self, dataset_id: str, kind: str, batch_id: str) -> None:
        counts = self.removed.setdefault(dataset_id, dict.fromkeys(KINDS, 0))
        counts[kind] += 1
        ids = self.batches.setdefault(dataset_id, [])
        if batch_id not in ids:
            ids.append(batch_id)

    @property
    def total(self) -> int:
        return sum(n for counts in self.removed.values() for n in counts.values())

    def details(self) -> dict:
        """The audit entry's details: counts and batch ids only."""
        return {"removed": self.removed, "batches": self.batches, "total": self.total}


@dataclass(frozen=True)
class _Expired:
    dataset_id: str
    batch_id: str
    key: str  # an object key in the landing area, or a stage folder's name


def rules_of(contracts: dict[str, Contract]) -> dict[str, Retention]:
    """Each dataset's retention, and the consent extracts' (one contract for every department)."""
    rules = {c.id: c.retention for c in contracts.values()}
    for department in {c.department for c in contracts.values()}:
        consent = consent_contract(department)
        rules[consent.id] = consent.retention
    return rules


def landing_prefixes(contracts: dict[str, Contract]) -> dict[str, str]:
    """Landing prefix -> dataset id, consent folders included."""
    prefixes = {c.landing_prefix: c.id for c in contracts.values()}
    for department in {c.department for c in contracts.values()}:
        consent = consent_contract(department)
        prefixes[consent.landing_prefix] = consent.id
    return prefixes


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _past(start: datetime | None, days: int, now: datetime) -> bool:
    return start is not None and _aware(start) + timedelta(days=days) <= now


def _batch(conn: Connection, batch_id: str) -> sa.Row | None:
    try:
        return ledger.get(conn, batch_id)
    except KeyError:
        return None


def expired_extracts(conn: Connection, store: ObjectStore, contracts: dict[str, Contract],
                     now: datetime, index_key: bytes) -> list[_Expired]:
    """Landing objects whose batch closed more than ``raw_extract_days`` ago."""
    rules, found = rules_of(contracts), []
    for prefix, dataset_id in sorted(landing_prefixes(contracts).items()):
        for obj in store.list(prefix):
            if obj.key.rsplit("/", 1)[-1].startswith((".", "_")):
                continue  # not a drop (discovery skips these too)
            batch = ledger.batch_of(conn, dataset_id, obj, index_key)
            if (batch is not None and batch.status != ledger.OPEN
                    and _past(batch.finished_at, rules[dataset_id].raw_extract_days, now)):
                found.append(_Expired(dataset_id, batch.batch_id, obj.key))
    return found


def expired_archives(conn: Connection, store: ObjectStore, rules: dict[str, Retention],
                     now: datetime) -> list[_Expired]:
    """Sealed quarantined files kept longer than ``quarantine_days`` after their batch closed
    (after they were written, for one the ledger does not know)."""
    found = []
    for obj in store.list(ARCHIVES):
        batch_id = obj.key.removeprefix(ARCHIVES).split("/", 1)[0]
        batch = _batch(conn, batch_id)
        dataset_id = batch.dataset_id if batch else batch_id.rsplit("-", 1)[0]
        since = (batch.finished_at if batch else None) or obj.modified
        if _past(since, rules.get(dataset_id, DEFAULT).quarantine_days, now):
            found.append(_Expired(dataset_id, batch_id, obj.key))
    return found


def expired_stage_folders(conn: Connection, stages: ObjectStore, rules: dict[str, Retention],
                          now: datetime) -> list[_Expired]:
    """Stage files of closed batches, and of open ones not written for ``stage_file_days``."""
    found = []
    for batch_id, last_written in sorted(workspace.leftovers(stages).items()):
        batch = _batch(conn, batch_id)
        dataset_id = batch.dataset_id if batch else batch_id.rsplit("-", 1)[0]
        closed = batch is not None and batch.status != ledger.OPEN
        days = rules.get(dataset_id, DEFAULT).stage_file_days
        if closed or _past(last_written, days, now):
            found.append(_Expired(dataset_id, batch_id, batch_id))
    return found


def sweep(settings: Settings, contracts: dict[str, Contract], now: datetime | None = None) -> Sweep:
    """Remove every expired copy (see the module doc) and audit the sweep; returns what went."""
    now = now or datetime.now(UTC)
    engine = engine_for(settings.store_url)
    landing = open_store(settings.landing_url, settings.s3_endpoint_url, private=True)
    rules, done = rules_of(contracts), Sweep(now)
    with engine.connect() as conn:
        extracts = expired_extracts(conn, landing, contracts, now, pseudonym_key(settings))
        archives = expired_archives(conn, landing, rules, now)
        stages = workspace.stage_store(settings)
        folders = expired_stage_folders(conn, stages, rules, now)
    for kind, expired, remove in (
            ("raw_extracts", extracts, landing.delete),
            ("quarantined_files", archives, landing.delete),
            ("stage_folders", folders, lambda batch_id: Workspace(stages, batch_id).remove())):
        for item in expired:
            remove(item.key)
            done.add(item.dataset_id, kind, item.batch_id)
    with engine.begin() as conn:
        for item in archives:  # the quarantine row says where its file went
            conn.execute(quarantine.update().where(
                quarantine.c.batch_id == item.batch_id, quarantine.c.original == item.key,
            ).values(original=f"removed on {now.date().isoformat()}: retention period over"))
        audit.append(conn, "retention_sweep", "retention", done.details(), now=now)
    return done


def removed_counts(done: Sweep) -> dict[str, int]:
    """Totals per kind, for a task's log and XCom."""
    totals: dict[str, int] = defaultdict(int)
    for counts in done.removed.values():
        for kind, n in counts.items():
            totals[kind] += n
    return {kind: totals[kind] for kind in KINDS}
