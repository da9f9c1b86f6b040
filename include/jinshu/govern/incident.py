"""Incident response: one switch that suspends a dataset wherever it leaves the store.

Opening an incident (an ``incidents`` row, audited with who and why) suspends
the dataset at once: the exchange refuses to publish it and to serve it
(the exchange API answers 423 naming the
incident), open data refuses to publish it, and the dataset's ``latest``
pointer moves back to the newest kept version no incident found unsafe (or is
removed when there is none); the blamed version's files are deleted, and the
dataset's page and the catalog are rewritten without it (:mod:`jinshu.open.site`).
An incident opened by hand blames the live version; one the leak guard opens
blames nothing, since the blocked files never went out, so the live version
stays.

Closing (audited too) lifts the suspension and restores nothing by itself:
the next publish run republishes the exchange and open data from the store
as it is then (trigger ``publish_exchange`` / ``publish_open_data`` to do it
at once). Later channels (exchange grants) hook in beside :func:`withdraw_open_data`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.govern import audit
from jinshu.open import package, site
from jinshu.protect import leakguard
from jinshu.store import dialect
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import incidents, publications

LEAK_GUARD = "jinshu-leakguard"


class IncidentError(ValueError):
    """An incident cannot be opened or closed as asked."""


class DatasetSuspended(RuntimeError):
    """The dataset is under an open incident: nothing of it leaves the store."""

    def __init__(self, dataset_id: str, incident: sa.Row) -> None:
        self.dataset_id, self.incident_id = dataset_id, incident.id
        super().__init__(
            f"dataset {dataset_id} is suspended by incident #{incident.id} (opened "
            f"{str(incident.opened_at)[:19]} by {incident.opened_by}: {incident.reason}). "
            f"Fix the cause, then: jinshu incident close {dataset_id} --reason ...")


@dataclass(frozen=True)
class Opened:
    incident_id: int
    open_data: str | None  # the open-data version live now; None when there is none


def dataset_lock(engine: Engine, dataset_id: str,
                 wait: bool = True) -> contextlib.AbstractContextManager[None]:
    """Hold the dataset's publish lock: an incident and a publication never interleave.

    With ``wait=False``, raises :class:`jinshu.store.dialect.LockBusy` when it is held."""
    return dialect.named_lock(engine, f"dataset-{dataset_id}", wait)


def active_incidents(conn: Connection, dataset_id: str | None = None) -> list[sa.Row]:
    """Open incidents (of one dataset, or all), oldest first."""
    query = sa.select(incidents).where(incidents.c.closed_at.is_(None))
    if dataset_id is not None:
        query = query.where(incidents.c.dataset_id == dataset_id)
    return conn.execute(query.order_by(incidents.c.id)).all()


def ensure_available(conn: Connection, dataset_id: str) -> None:
    """Raise :class:`DatasetSuspended` while an incident of the dataset is open."""
    open_ = active_incidents(conn, dataset_id)
    if open_:
        raise DatasetSuspended(dataset_id, open_[0])


def _checked(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise IncidentError("a reason is required")
    if leakguard.scan(reason):
        raise IncidentError("the reason carries a raw identifier; describe the problem without it")
    return reason


def _record(conn: Connection, dataset_id: str, reason: str, actor: str, now: datetime,
            blamed: int | None) -> int:
    incident_id = conn.execute(incidents.insert().values(
        dataset_id=dataset_id, opened_at=now, opened_by=actor, reason=reason,
        blamed_publication=blamed)).inserted_primary_key[0]
    audit.append(conn, "incident_opened", dataset_id,
                 {"incident": incident_id, "reason": reason, "blamed_publication": blamed},
                 actor=actor, now=now)
    return incident_id


def _versions(conn: Connection, store: ObjectStore, dataset_id: str) -> list[sa.Row]:
    """Open-data publications of the dataset in this store, newest first."""
    p = publications.c
    rows = conn.execute(sa.select(publications)
                        .where(p.channel == "open_data", p.dataset_id == dataset_id)
                        .order_by(p.published_at.desc(), p.id.desc())).all()
    return [r for r in rows if r.location.startswith(f"{store.url}/{dataset_id}/")]


def _version_of(row: sa.Row) -> str:
    """The version name a publication's location ends with (``.../<dataset>/<version>/``)."""
    return row.location.rstrip("/").rsplit("/", 1)[1]


def _unsafe(conn: Connection, dataset_id: str) -> set[int]:
    return set(conn.execute(sa.select(incidents.c.blamed_publication).where(
        incidents.c.dataset_id == dataset_id, incidents.c.blamed_publication.is_not(None))).scalars())


def live_version(conn: Connection, store: ObjectStore, dataset_id: str) -> sa.Row | None:
    """The publication the dataset's ``latest`` pointer names (what is live)."""
    latest = site.pointer(store, dataset_id)
    if latest is None:
        return None
    return next((v for v in _versions(conn, store, dataset_id) if _version_of(v) == latest["version"]),
                None)


def withdraw_open_data(conn: Connection, store: ObjectStore, dataset_id: str,
                       now: datetime | None = None) -> str | None:
    """Point ``latest`` at the newest kept version no incident blamed (or remove it), delete
    the blamed versions' files, since the store is public, and rewrite the dataset's page
    and the catalog. Returns the location of the version now live, None when none is."""
    from datetime import UTC

    versions = _versions(conn, store, dataset_id)
    unsafe_ids = _unsafe(conn, dataset_id)
    unsafe = {_version_of(v) for v in versions if v.id in unsafe_ids}
    latest = site.pointer(store, dataset_id)
    present = site.version_folders(store, dataset_id)
    kept = [v for v in (latest["versions"] if latest else []) if v not in unsafe and v in present]
    key = f"{dataset_id}/{package.LATEST}"
    if kept:
        store.write(key, package.dumps({**latest, "version": kept[0], "versions": kept,
                                        "path": package.version_prefix(dataset_id, kept[0])}))
    else:
        store.delete(key)
    site.delete_versions(store, dataset_id, kept)
    site.refresh(store, dataset_id, now or datetime.now(UTC))
    return f"{store.url}/{package.version_prefix(dataset_id, kept[0])}" if kept else None


def open_incident(engine: Engine, open_data: ObjectStore, dataset_id: str, reason: str,
                  actor: str, now: datetime) -> Opened:
    """Suspend the dataset, blame its live open-data version and withdraw it.

    Waits for a publication of the dataset under way, so it blames what that one wrote.
    """
    reason = _checked(reason)
    with dataset_lock(engine, dataset_id):
        return _open(engine, open_data, dataset_id, reason, actor, now)


def _open(engine: Engine, open_data: ObjectStore, dataset_id: str, reason: str, actor: str,
          now: datetime) -> Opened:
    with engine.begin() as conn:  # suspended from here on, even if the withdrawal fails
        blamed = live_version(conn, open_data, dataset_id)
        incident_id = _record(conn, dataset_id, reason, actor, now, blamed.id if blamed else None)
    with engine.begin() as conn:
        if not _versions(conn, open_data, dataset_id) and not open_data.list(f"{dataset_id}/"):
            return Opened(incident_id, None)  # never published: nothing to withdraw
        live = withdraw_open_data(conn, open_data, dataset_id, now)
        audit.append(conn, "open_data_withdrawn", dataset_id,
                     {"incident": incident_id, "live_version": live}, actor=actor, now=now)
    return Opened(incident_id, live)


def leak_blocked(engine: Engine, dataset_id: str, channel: str, leak: leakguard.LeakFound,
                 now: datetime) -> int:
    """Audit a publication the leak guard blocked and open an incident for the dataset."""
    kinds = sorted({h.kind for h in leak.hits})
    with engine.begin() as conn:
        audit.append(conn, "publication_blocked", dataset_id,
                     {"channel": channel, "artifact": leak.artifact, "hits": len(leak.hits),
                      "kinds": kinds}, now=now)
        return _record(conn, dataset_id, f"leak guard blocked the {channel} publication: "
                       f"{len(leak.hits)} raw identifier(s) ({', '.join(kinds)})", LEAK_GUARD, now,
                       None)


def close_incident(engine: Engine, dataset_id: str, reason: str, actor: str,
                   now: datetime) -> list[int]:
    """Close every open incident of the dataset (lifting its suspension); returns their ids."""
    reason = _checked(reason)
    with engine.begin() as conn:
        open_ = active_incidents(conn, dataset_id)
        if not open_:
            raise IncidentError(f"dataset {dataset_id} has no open incident")
        for row in open_:
            conn.execute(incidents.update().where(incidents.c.id == row.id).values(
                closed_at=now, closed_by=actor, close_reason=reason))
            audit.append(conn, "incident_closed", dataset_id, {"incident": row.id, "reason": reason},
                         actor=actor, now=now)
    return [row.id for row in open_]
