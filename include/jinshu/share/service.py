"""The exchange service: what the API serves, decided, minimized, masked and recorded.

Consumers never connect to the central store: every read goes through
:class:`Exchange`, which authenticates the caller's token, refuses a dataset
under an open incident (:func:`jinshu.govern.incident.ensure_available`) or
not yet published to the exchange, applies the pure decision
(:mod:`jinshu.share.decision`), reads one keyset page of the dataset table's
current versions over their natural-key index (earlier versions are never served;
a field the dataset takes from its concept's authority read there by subject key,
:mod:`jinshu.repeat.authority`), decrypts only what must be masked or shown,
replaces the platform pseudonym with the consumer's own, stamps the extract
(:mod:`jinshu.share.stamp`: source, acquisition date, version, checksum) and
records the response (:mod:`jinshu.share.access_log`) before it is sent.

A developer reads only under an authorization of its organization that is
complete, filed and unexpired (:mod:`jinshu.share.authorization`); a read refused
for want of one is audited (:func:`jinshu.share.development.record_refusal`).

The exchange's **version** of a dataset is the acquisition time of the newest
batch in its latest exchange publication (the ``publish_exchange`` DAG, which
passes the leak guard first); it goes out in headers and body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import quote

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.govern import incident
from jinshu.protect import crypto, policy
from jinshu.protect.crypto import subject_rows
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.repeat import authority
from jinshu.share import development, grants, principals, stamp
from jinshu.share.access_log import AccessLog, Record
from jinshu.share.authorization import Authorization, NotAuthorized, authorize
from jinshu.share.cursor import Cursors, MalformedCursor, cursor_key
from jinshu.share.decision import (
    Access,
    Caller,
    Refused,
    consumer_pseudonyms,
    decide,
    ensure_shared,
)
from jinshu.store.tables import dataset_table, publications
from jinshu.vocab import formats, mask

SUBJECT = "_subject"  # the consumer's pseudonym of the record's subject, in each row
ACQUIRED_AT, BATCH_ID = "_acquired_at", "_batch_id"  # each stored row's source batch
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    dataset_id: str
    source_department: str
    version: str
    acquired_on: str
    fields: tuple[str, ...]
    masked: tuple[str, ...]
    grant_id: int | None
    purpose: str
    rows: list[dict]
    next_cursor: str | None
    provenance: dict

    def body(self) -> dict:
        return {"dataset": self.dataset_id, "source_department": self.source_department,
                "version": self.version, "acquired_on": self.acquired_on, "fields": list(self.fields),
                "masked": list(self.masked), "grant": self.grant_id, "purpose": self.purpose,
                "rows": self.rows, "next_cursor": self.next_cursor, "provenance": self.provenance}

    def headers(self) -> dict[str, str]:
        """The stamp's essentials; text that may be Chinese is UTF-8, %-encoded."""
        headers = {"X-Jinshu-Source-Department": quote(self.source_department),
                   "X-Jinshu-Source-Dataset": self.dataset_id,
                   "X-Jinshu-Version": self.version, "X-Jinshu-Acquired-On": self.acquired_on,
                   "X-Jinshu-Checksum": self.provenance["checksum"]}
        authorized = self.provenance["authorization"]
        if authorized:
            headers |= {"X-Jinshu-Authorization": str(authorized["id"]),
                        "X-Jinshu-Agreement-No": quote(authorized["agreement_no"]),
                        "X-Jinshu-Filing-No": quote(authorized["filing_no"])}
        return headers


@dataclass(frozen=True)
class Version:
    """The exchange's version of a dataset: its newest exchange publication."""

    name: str  # the acquisition time of its newest batch, ISO 8601 UTC
    acquired_on: str
    published_at: dt.datetime


def json_default(value):
    """What orjson does not serialize by itself: decimals (as text, exactly)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


class Exchange:
    """The service behind the API (one per process)."""

    def __init__(self, engine: Engine, contracts: dict[str, Contract], protector: crypto.Protector,
                 index_key: bytes, holidays: frozenset[dt.date] = frozenset(),
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.engine, self.contracts, self.protector = engine, contracts, protector
        self.holidays, self.clock = holidays, clock
        self.cursors = Cursors(cursor_key(index_key))
        self.log = AccessLog(engine)
        self._queries: dict[tuple, sa.Select] = {}

    # --- who, and which dataset ------------------------------------------------------------

    def caller(self, conn: Connection, token: str | None) -> Caller:
        principal = principals.authenticate(conn, token, self.clock())
        return Caller(principal.id, principal.department, principal.kind, principal.uscc)

    def contract(self, dataset_id: str) -> Contract:
        if dataset_id not in self.contracts:
            raise Refused(404, "no_such_dataset", f"no dataset '{dataset_id}': GET /v1/catalog "
                          "lists what you may see")
        return self.contracts[dataset_id]

    def _available(self, conn: Connection, contract: Contract, caller: Caller) -> Version:
        """The version served; refuses a dataset not shared, suspended or unpublished."""
        ensure_shared(contract, caller)
        try:
            incident.ensure_available(conn, contract.id)
        except incident.DatasetSuspended as suspended:
            raise Refused(423, "suspended", f"{contract.id} is suspended by incident "
                          f"#{suspended.incident_id}; nothing of it leaves the store until the "
                          "platform closes the incident: try again later") from suspended
        p = publications.c
        newest = conn.execute(sa.select(p.acquired_at, p.published_at).where(
            p.channel == "exchange", p.dataset_id == contract.id).order_by(p.id.desc()).limit(1)
        ).first()
        if newest is None or newest.acquired_at is None:
            raise Refused(409, "not_published", f"{contract.id} is not on the exchange yet: it is "
                          "served after the publish_exchange DAG has published it")
        acquired = principals.as_utc(newest.acquired_at).astimezone(dt.UTC)
        return Version(acquired.isoformat(timespec="seconds"), acquired.date().isoformat(),
                       principals.as_utc(newest.published_at).astimezone(dt.UTC))

    def _access(self, conn: Connection, caller: Caller, contract: Contract, grant_id: int | None,
                fields: list[str] | None, lookup: bool = False
                ) -> tuple[Access, Authorization | None]:
        """What the caller may read, and the authorization a developer reads under."""
        conditional = contract.sharing.class_ != "unconditional" or grant_id is not None
        grant = (grants.grant_for(conn, grant_id, caller, contract.id, self.clock())
                 if conditional or lookup else None)
        access = decide(contract, caller, grant, fields, self.clock(), lookup=lookup)
        if caller.kind != "developer":
            return access, None
        held = authorize(caller, contract.id, development.held_by(conn, caller.organization),
                         self.clock())
        return replace(access, purpose=f"开发利用授权 #{held.id}: {held.purpose}"), held

    @contextmanager
    def _refusals_recorded(self) -> Iterator[None]:
        """A developer's read refused for want of an authorization is audited, then refused."""
        try:
            yield
        except NotAuthorized as refused:
            development.record_refusal(self.engine, refused, self.clock())
            raise

    # --- data ----------------------------------------------------------------------------

    def read_page(self, token: str | None, dataset_id: str, cursor: str | None, limit: int,
                  fields: list[str] | None, grant_id: int | None) -> tuple[Page, Record]:
        """One page in natural-key order after ``cursor``; a page past the end has no rows."""
        with self._refusals_recorded(), self.engine.connect() as conn:
            caller = self.caller(conn, token)
            contract = self.contract(dataset_id)
            version = self._available(conn, contract, caller)
            access, held = self._access(conn, caller, contract, grant_id, fields)
            keys = policy.key_columns(contract)
            after = self._after(cursor, contract, caller, len(keys))
            query = self._query(contract, access.fields, after is not None)
            params = {f"k{i}": v for i, v in enumerate(after or ())} | {"limit": min(limit, MAX_LIMIT)}
            rows = conn.execute(query, params).all()
        next_cursor = (self.cursors.seal(tuple(_json_value(v) for v in rows[-1][-len(keys):]),
                                         contract.id, caller.consumer)
                       if len(rows) == limit else None)
        return self._page(contract, caller, access, held, version, rows, next_cursor, "page")

    def lookup(self, token: str | None, dataset_id: str, identifier: str, fields: list[str] | None,
               grant_id: int | None) -> tuple[Page, Record]:
        """The records of one subject, found through its pseudonym (the blind index)."""
        with self._refusals_recorded(), self.engine.connect() as conn:
            caller = self.caller(conn, token)
            contract = self.contract(dataset_id)
            if not contract.subject_key:
                raise Refused(400, "no_subjects", f"{contract.id} has no subject to look up")
            version = self._available(conn, contract, caller)
            access, held = self._access(conn, caller, contract, grant_id, fields, lookup=True)
            key = self._subject_key(contract, identifier)
            table = dataset_table(contract)
            rows = conn.execute(self._select(contract, access.fields).where(
                table.c[SUBJECT_KEY] == key)).all()
        return self._page(contract, caller, access, held, version, rows, None, "lookup", key)

    def _subject_key(self, contract: Contract, identifier: str) -> str:
        spec = contract.by_name[contract.subject_key]
        value = pd.Series([identifier.strip()], dtype="str")
        if spec.format in formats.REGISTRY:
            value = formats.REGISTRY[spec.format].normalize(value)
        return self.protector.pseudonyms.one(value.iloc[0])

    def _after(self, cursor: str | None, contract: Contract, caller: Caller, arity: int) -> tuple | None:
        if not cursor:
            return None
        try:
            return self.cursors.open(cursor, contract.id, caller.consumer, arity)
        except MalformedCursor as error:
            raise Refused(400, "malformed_cursor", str(error)) from error

    def _select(self, contract: Contract, fields: tuple[str, ...]) -> sa.Select:
        """The fields (a taken one read at its authority), the subject, the row's source batch
        and acquisition, then the key."""
        table = dataset_table(contract)
        keys = policy.key_columns(contract)
        return (authority.resolved(contract, self.contracts)
                .select([*fields, SUBJECT_KEY, ACQUIRED_AT, BATCH_ID])
                .add_columns(*(table.c[k] for k in keys)).order_by(*(table.c[k] for k in keys)))

    def _query(self, contract: Contract, fields: tuple[str, ...], after: bool) -> sa.Select:
        """The keyset query over the natural-key index (cached per shape)."""
        shape = (contract.id, fields, after)
        if shape not in self._queries:
            table = dataset_table(contract)
            keys = [table.c[k] for k in policy.key_columns(contract)]
            query = self._select(contract, fields)
            if after:
                bound = [sa.bindparam(f"k{i}", type_=k.type) for i, k in enumerate(keys)]
                query = query.where(sa.tuple_(*keys) > sa.tuple_(*bound))
            self._queries[shape] = query.limit(sa.bindparam("limit"))
        return self._queries[shape]

    def _page(self, contract: Contract, caller: Caller, access: Access, held: Authorization | None,
              version: Version, rows: list, next_cursor: str | None, kind: str,
              exact: str | None = None) -> tuple[Page, Record]:
        n = len(access.fields)
        columns = list(zip(*rows, strict=True)) if rows else [()] * (n + 3)
        out: dict[str, list] = {}
        masked = []
        subjects = list(columns[n]) if rows else []
        for name, values in zip(access.fields, columns[:n], strict=True):
            out[name], was_masked = self._exit(contract, name, list(values), access.exits[name],
                                               subjects)
            if was_masked:
                masked.append(name)
        present = [s for s in subjects if s is not None]
        mine = iter(consumer_pseudonyms(self.protector.pseudonyms, caller.consumer, access.scope,
                                        present))
        out[SUBJECT] = [next(mine) if s is not None else None for s in subjects]
        names = [*access.fields, SUBJECT]
        body_rows = [dict(zip(names, values, strict=True)) for values in zip(*(out[k] for k in names),
                                                                              strict=True)]
        first_key = policy.key_columns(contract)[0] == SUBJECT_KEY
        span = (exact, exact) if exact else ((present[0], present[-1]) if first_key and present
                                             else (None, None))
        now = self.clock()
        acquired = max(columns[n + 1], default=None)
        provenance = stamp.stamp(contract, body_rows, version=version.name,
                                 acquired_at=acquired and principals.as_utc(acquired).astimezone(dt.UTC),
                                 published_at=version.published_at, delivered_at=now,
                                 batches=columns[n + 2], authorization=held)
        page = Page(contract.id, contract.department.name, version.name, version.acquired_on,
                    access.fields, tuple(masked), access.grant_id, access.purpose, body_rows,
                    next_cursor, provenance)
        record = Record(now, caller.principal, caller.department, contract.id, version.name, kind,
                        access.fields, access.clear, len(rows), access.purpose, access.grant_id,
                        *span, provenance["checksum"])
        return page, record

    def _exit(self, contract: Contract, name: str, values: list, how: policy.Exit,
              subjects: list) -> tuple[list, bool]:
        """``values`` of one field as they may leave: kept, or decrypted (each envelope bound to
        its row's subject) then masked."""
        spec = contract.by_name[name]
        encrypted = spec.sensitivity == policy.ENCRYPTED
        if how == "keep" and not encrypted:
            return values, False  # dates and decimals are serialized by the API (json_default)
        series = pd.Series([_json_value(v) for v in values], dtype="str")
        if encrypted and spec.from_authority:  # the authority's envelopes, bound to it
            series = authority.reveal_one(series, pd.Series(subjects, dtype="str"), contract,
                                          name, self.contracts, self.protector)
        elif encrypted:
            series = self.protector.decrypt(series, contract, name,
                                            subject_rows(pd.Series(subjects, dtype="str")))
        if how == "mask" or encrypted:  # sensitive fields never leave in the clear
            series = mask.apply(spec.mask_kind, series)
        return series.astype(object).where(series.notna(), None).tolist(), True

    # --- requests and the catalog ----------------------------------------------------------

    def catalog(self, token: str | None) -> list[dict]:
        with self.engine.connect() as conn:
            caller = self.caller(conn, token)
            mine = {}
            for row in grants.listing(conn, caller.department):
                grant = grants.as_grant(row)
                if (row.requester == caller.department and grant.status == "approved"
                        and grant.revoked_at is None and grant.expires_at > self.clock()):
                    mine.setdefault(row.dataset_id, grant)
            held = development.held_by(conn, caller.organization)
        return [self._entry(c, caller, mine.get(c.id), held) for c in self.contracts.values()]

    def _entry(self, contract: Contract, caller: Caller, grant, held: list[Authorization]) -> dict:
        sharing = contract.sharing
        try:
            access = decide(contract, caller, grant, None, self.clock())
            if caller.kind == "developer":
                authorize(caller, contract.id, held, self.clock())
            state, how = "readable", f"GET /v1/datasets/{contract.id}/records"
        except Refused as refused:
            access, state, how = None, refused.code, refused.message
        return {"id": contract.id, "title": contract.title,
                "department": {"code": contract.department.code, "name": contract.department.name},
                "sharing": sharing.class_, "condition": sharing.condition,
                "legal_basis": sharing.legal_basis if sharing.class_ == "not_shared" else None,
                "access": state, "how": how, "grant": grant.id if grant else None,
                "fields": [{"name": f.name, "title": f.title, "sensitivity": f.sensitivity,
                            "exit": access.exits.get(f.name, "not_granted") if access else None}
                           for f in contract.fields]}
