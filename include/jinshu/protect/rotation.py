"""Key rotation: move every stored envelope to the keyring's active data key.

What holds envelopes (each a *target*): the sensitive fields of every dataset
table, in every version of each record (current versions and earlier ones are
two targets, each walked along its own index), and the sealed originals of
quarantined rows of datasets that have sensitive fields (pseudo-field
``_original``). Each envelope is bound to its row (:mod:`jinshu.protect.crypto`):
a dataset row by ``_subject_key``, a quarantined row by ``batch_id`` and
``source_row``.

:func:`rotate` walks each target in natural-key order, one chunk per
transaction: it selects values whose key id is not the active one, decrypts
them, re-encrypts them under the active key, checks the new envelope
decrypts to the same plaintext and that the blind index recomputed from the
plaintext equals the stored one, and only then writes them, each ``WHERE``
the key columns *and* the old envelope still match (a value changed
meanwhile is left for the next run). An interruption leaves every value
readable under its old or its new key; running again picks up what is
left. Envelopes written before row binding are rewritten too, even under
the active key (``jinshu keys rotate --no-new-key`` migrates a store once).
:func:`verify` decrypts and re-indexes every value and counts unbound ones;
:func:`retire` drops a key from a keyring once no stored value uses it.

Reports and errors name a row by its key columns (blind indexes and
non-personal values), never by a plaintext.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.protect import crypto, policy
from jinshu.protect.keyring import Keyring, KeyringError
from jinshu.protect.keys import data_keyring, keyring_is_local, save_local_keyring
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.settings import Settings
from jinshu.store import dialect, versions
from jinshu.store.tables import batches, dataset_table, quarantine

UNDECRYPTABLE = "does not decrypt (modified, moved or under an unknown key)"
INDEX_DIFFERS = "decrypts, but its blind index differs (value swapped between rows?)"
REENCRYPTED_DIFFERS = "re-encrypted value does not decrypt to the same plaintext"


class RotationError(RuntimeError):
    """A chunk failed verification: nothing of that chunk was written."""


class KeyInUse(KeyringError):
    """The key still encrypts stored values."""


@dataclass(frozen=True)
class Target:
    """One column of envelopes: where they are, how a row is named, what they are bound to."""

    dataset: str
    field: str  # a sensitive field, or crypto.ORIGINALS for sealed quarantine originals
    table: sa.Table
    keys: tuple[str, ...]  # columns naming a row, in pagination order
    shown: frozenset[str]  # key columns safe to print (blind indexes, non-personal values)
    index: str | None  # the blind-index column, if any
    contract: Contract  # its id is bound into the envelope (AAD)
    where: tuple = ()
    stored_in: str | None = None  # the column, when not named like the field
    bound_to: tuple[str, ...] = (SUBJECT_KEY,)  # the columns of the row key (crypto AAD)

    @property
    def column(self) -> sa.Column:
        return self.table.c[self.stored_in or self.field]

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    def label(self, row) -> str:
        return ", ".join(f"{k}={row[k] if k in self.shown else '<withheld>'}" for k in self.keys)

    def row_keys(self, rows: list[sa.Row]) -> pd.Series:
        """The row key each envelope of ``rows`` is bound to."""
        if self.field == crypto.ORIGINALS:
            keys = [crypto.quarantine_row(r.batch_id, r.source_row) for r in rows]
            return pd.Series(keys, dtype="str")
        return crypto.subject_rows(pd.Series([r._mapping[SUBJECT_KEY] for r in rows],
                                             dtype="str"))


@dataclass(frozen=True)
class Mismatch:
    dataset: str
    field: str
    row: str  # the row's key columns (blind indexes, non-personal values): never a plaintext
    problem: str


@dataclass(frozen=True)
class RotationReport:
    active: str
    reencrypted: dict[str, dict[str, int]]  # dataset -> field -> values moved to the active key
    skipped: int  # changed by someone else meanwhile: left for the next run
    chunks: int
    interrupted: bool  # stopped by max_chunks

    @property
    def total(self) -> int:
        return sum(n for fields in self.reencrypted.values() for n in fields.values())

    @property
    def complete(self) -> bool:
        return not self.interrupted and not self.skipped


@dataclass
class VerifyReport:
    active: str
    counts: Counter = field(default_factory=Counter)  # (dataset, field, key id) -> values
    mismatches: int = 0
    samples: list[Mismatch] = field(default_factory=list)  # the first few mismatches
    unbound: int = 0  # written before row binding: rotation rebinds them

    @property
    def checked(self) -> int:
        return sum(self.counts.values())

    @property
    def not_active(self) -> int:
        return sum(n for (_, _, key_id), n in self.counts.items() if key_id != self.active)

    @property
    def ok(self) -> bool:
        return not self.not_active and not self.mismatches and not self.unbound

    def lines(self) -> list[str]:
        """Human-readable summary: counts per key id, then mismatches (no plaintext)."""
        out = [f"{dataset}.{name}: {key_id}={n}"
               for (dataset, name, key_id), n in sorted(self.counts.items())]
        out.append(f"{self.checked} value(s) checked; {self.not_active} not under the active key "
                   f"'{self.active}'; {self.unbound} not bound to their row (rotate once to bind "
                   f"them); {self.mismatches} mismatch(es)")
        out += [f"MISMATCH {m.dataset}.{m.field} at {m.row}: {m.problem}" for m in self.samples]
        return out


def _sealing_contracts(contracts: dict[str, Contract]) -> dict[str, Contract]:
    """Contracts whose quarantined rows have sealed originals: sensitive datasets and consent."""
    from jinshu.collect.consent import consent_contract

    sealing = {c.id: c for c in contracts.values() if policy.seals_originals(c)}
    if contracts:
        consent = consent_contract(next(iter(contracts.values())).department)
        if policy.seals_originals(consent):
            sealing.setdefault(consent.id, consent)
    return sealing


def _field_targets(contract: Contract) -> list[Target]:
    """Each sensitive field's envelopes in current versions, then in earlier ones."""
    table, key = dataset_table(contract), policy.key_columns(contract)
    personal = {f.name for f in contract.fields if f.sensitivity in policy.MASKED_ON_EXIT}
    return [Target(contract.id, spec.name, table, order, frozenset(order) - personal,
                   policy.blind_index_column(contract, spec.name), contract, (where,))
            for spec in policy.encrypted_fields(contract)
            for where, order in versions.sweeps(table, key)]


def _originals_target(contract: Contract) -> Target:
    of_dataset = sa.select(batches.c.batch_id).where(batches.c.dataset_id == contract.id)
    where = (quarantine.c.batch_id.in_(of_dataset), quarantine.c.source_row.is_not(None),
             quarantine.c.original.like("%:%"), quarantine.c.original.not_like("{%"))
    return Target(contract.id, crypto.ORIGINALS, quarantine, ("id",), frozenset({"id"}), None,
                  contract, where, stored_in=quarantine.c.original.name,
                  bound_to=("batch_id", "source_row"))


def targets(engine: Engine, contracts: dict[str, Contract]) -> list[Target]:
    """Every column of envelopes in the store, dataset by dataset."""
    inspector = sa.inspect(engine)
    found = [t for c in contracts.values() if inspector.has_table(c.table) for t in _field_targets(c)]
    if inspector.has_table(quarantine.name):
        found += [_originals_target(c) for c in _sealing_contracts(contracts).values()]
    return found


def key_counts(engine: Engine, contracts: dict[str, Contract]) -> Counter:
    """Stored values per (dataset, field, key id), counted in SQL (nothing decrypted)."""
    counts: Counter = Counter()
    with engine.connect() as conn:
        for target in targets(engine, contracts):
            key_id = dialect.prefix_before(target.column, ":").label("key_id")
            query = (sa.select(key_id, sa.func.count()).where(*target.where,
                                                                target.column.is_not(None))
                     .group_by(sa.literal_column("key_id")))
            for kid, n in conn.execute(query):
                counts[(target.dataset, target.field, kid)] += n
    return counts


def _page(conn: Connection, target: Target, after: tuple | None, limit: int,
          skip_key: str | None = None) -> list[sa.Row]:
    """The next ``limit`` rows with an envelope, after ``after`` in key order."""
    t = target.table
    names = list(dict.fromkeys([*target.keys, target.column.name, *filter(None, [target.index]),
                                *target.bound_to]))
    key_cols = [t.c[k] for k in target.keys]
    query = sa.select(*(t.c[n] for n in names)).where(*target.where, target.column.is_not(None))
    if skip_key:
        query = query.where(target.column.not_like(f"{skip_key}:{crypto.BOUND}:%"))
    if after is not None:
        query = query.where(sa.tuple_(*key_cols) > sa.tuple_(*after) if len(key_cols) > 1
                            else key_cols[0] > after[0])
    return conn.execute(query.order_by(*key_cols).limit(limit)).all()


def _envelopes(rows: list[sa.Row], target: Target) -> tuple[pd.Series, pd.Series | None]:
    envelopes = pd.Series([r._mapping[target.column.name] for r in rows], dtype="str")
    if target.index is None:
        return envelopes, None
    return envelopes, pd.Series([r._mapping[target.index] for r in rows], dtype="object")


def _decrypt_each(protector: crypto.Protector, envelopes: pd.Series, rows: pd.Series,
                  target: Target) -> tuple[pd.Series, list[bool]]:
    """Plaintexts (missing where it fails) and which fail; one bad value hides no other.
    Envelopes written before row binding are read (under their old associated data)."""
    try:
        return (protector.decrypt(envelopes, target.contract, target.field, rows, unbound=True),
                [False] * len(envelopes))
    except (ValueError, KeyringError):
        pass
    plain, failed = [], []
    for envelope, row in zip(envelopes.tolist(), rows.tolist(), strict=True):
        try:
            one = protector.decrypt(pd.Series([envelope], dtype="str"), target.contract,
                                    target.field, pd.Series([row], dtype="str"), unbound=True)
            plain.append(one.iloc[0])
            failed.append(False)
        except (ValueError, KeyringError):
            plain.append(None)
            failed.append(True)
    return pd.Series(plain, dtype="str", index=envelopes.index), failed


def check(protector: crypto.Protector, target: Target, envelopes: pd.Series, rows: pd.Series,
          indexes: pd.Series | None) -> tuple[pd.Series, list[str | None]]:
    """Plaintexts of ``envelopes`` and, per value, what is wrong with it (None: nothing)."""
    plain, failed = _decrypt_each(protector, envelopes, rows, target)
    if indexes is None:
        return plain, [UNDECRYPTABLE if bad else None for bad in failed]
    expected = protector.pseudonyms.many(plain).tolist()
    return plain, [UNDECRYPTABLE if bad else None if want == got else INDEX_DIFFERS
                   for bad, want, got in zip(failed, expected, indexes.tolist(), strict=True)]


def _refuse(target: Target, rows: list[sa.Row], problems: list[str | None]) -> None:
    bad = [(row, p) for row, p in zip(rows, problems, strict=True) if p]
    if bad:
        row, problem = bad[0]
        raise RotationError(
            f"{target.name}: the value at {target.label(row._mapping)} {problem}; {len(bad)} "
            "value(s) of this chunk fail verification and nothing of the chunk was written. "
            "Fix: restore the value from the department's extract (re-ingest it), then rotate again")


def _update(target: Target) -> sa.Update:
    t = target.table
    return (t.update()
            .where(*target.where,
                   *(t.c[k] == sa.bindparam(f"rot_key_{i}") for i, k in enumerate(target.keys)),
                   target.column == sa.bindparam("rot_old"))
            .values({target.column.name: sa.bindparam("rot_new")}))


def _rotate_chunk(conn: Connection, target: Target, protector: crypto.Protector,
                  after: tuple | None, limit: int) -> tuple[list[sa.Row], int]:
    """Re-encrypt the next chunk of values not under the active key: (rows seen, rows written)."""
    rows = _page(conn, target, after, limit, skip_key=protector.keyring.active)
    if not rows:
        return rows, 0
    envelopes, indexes = _envelopes(rows, target)
    row_keys = target.row_keys(rows)
    plain, problems = check(protector, target, envelopes, row_keys, indexes)
    _refuse(target, rows, problems)
    fresh = protector.encrypt(plain, target.contract, target.field, row_keys)
    again, failed = _decrypt_each(protector, fresh, row_keys, target)
    _refuse(target, rows, [REENCRYPTED_DIFFERS if bad or a != p else None
                           for bad, a, p in zip(failed, again, plain, strict=True)])
    params = [{**{f"rot_key_{i}": row._mapping[k] for i, k in enumerate(target.keys)},
               "rot_old": old, "rot_new": new}
              for row, old, new in zip(rows, envelopes.tolist(), fresh.tolist(), strict=True)]
    return rows, conn.execute(_update(target), params).rowcount


def _chunks(engine: Engine, target: Target, protector: crypto.Protector,
            chunk_rows: int) -> Iterator[tuple[int, int]]:
    """(values seen, values written) per committed chunk, until nothing is left."""
    after = None
    while True:
        with engine.begin() as conn:
            rows, written = _rotate_chunk(conn, target, protector, after, chunk_rows)
        if not rows:
            return
        after = tuple(rows[-1]._mapping[k] for k in target.keys)
        yield len(rows), written


def rotate(engine: Engine, contracts: dict[str, Contract], protector: crypto.Protector,
           now: datetime, chunk_rows: int = 10_000, max_chunks: int | None = None,
           actor: str | None = None) -> RotationReport:
    """Re-encrypt every envelope not under the active key; resumable (see the module doc)."""
    active, chunks, skipped, interrupted = protector.keyring.active, 0, 0, False
    moved: dict[str, dict[str, int]] = {}
    with engine.begin() as conn:
        audit.append(conn, "key_rotation_started", active, {"keys": sorted(protector.keyring.keys)},
                     actor=actor, now=now)
    by_dataset: dict[str, list[Target]] = {}
    for target in targets(engine, contracts):
        by_dataset.setdefault(target.dataset, []).append(target)
    for dataset, group in by_dataset.items():
        counts, dataset_skipped = dict.fromkeys((t.field for t in group), 0), 0
        for target in group:
            for seen, written in _chunks(engine, target, protector, chunk_rows):
                counts[target.field] += written
                dataset_skipped += seen - written
                chunks += 1
                if max_chunks is not None and chunks >= max_chunks:
                    interrupted = True
                    break
            if interrupted:
                break
        skipped += dataset_skipped
        if any(counts.values()) or dataset_skipped or interrupted:
            moved[dataset] = counts
            with engine.begin() as conn:
                audit.append(conn, "key_rotation", dataset,
                             {"active": active, "reencrypted": counts, "skipped": dataset_skipped,
                              "complete": not interrupted and not dataset_skipped},
                             actor=actor, now=now)
        if interrupted:
            break
    return RotationReport(active, moved, skipped, chunks, interrupted)


def verify(engine: Engine, contracts: dict[str, Contract], protector: crypto.Protector,
           chunk_rows: int = 10_000, sample_limit: int = 20) -> VerifyReport:
    """Decrypt every stored value and recompute its blind index; count values per key id."""
    report = VerifyReport(protector.keyring.active)
    for target in targets(engine, contracts):
        after = None
        while True:
            with engine.connect() as conn:
                rows = _page(conn, target, after, chunk_rows)
            if not rows:
                break
            after = tuple(rows[-1]._mapping[k] for k in target.keys)
            envelopes, indexes = _envelopes(rows, target)
            report.counts.update((target.dataset, target.field, crypto.key_id_of(e))
                                 for e in envelopes.tolist())
            report.unbound += sum(not crypto.is_bound(e) for e in envelopes.tolist())
            problems = check(protector, target, envelopes, target.row_keys(rows), indexes)[1]
            for row, problem in zip(rows, problems, strict=True):
                if problem:
                    report.mismatches += 1
                    if len(report.samples) < sample_limit:
                        report.samples.append(Mismatch(target.dataset, target.field,
                                                       target.label(row._mapping), problem))
    return report


def retire(engine: Engine, contracts: dict[str, Contract], keyring: Keyring, key_id: str) -> Keyring:
    """``keyring`` without ``key_id``; refused while it is active or any stored value uses it."""
    if key_id not in keyring.keys:
        raise KeyringError(f"no key '{key_id}' in the keyring ({keyring.source})")
    remaining = keyring.without(key_id)  # refuses the active key
    in_use = {f"{dataset}.{name}": n for (dataset, name, kid), n in
              key_counts(engine, contracts).items() if kid == key_id}
    if in_use:
        where = ", ".join(f"{k}: {n}" for k, n in sorted(in_use.items()))
        raise KeyInUse(f"key '{key_id}' still encrypts {sum(in_use.values())} stored value(s) "
                       f"({where}). Fix: run `jinshu keys rotate --no-new-key` (or the rotate_keys "
                       "DAG) until nothing uses it, then retire it")
    return remaining


def audit_key_event(engine: Engine, action: str, key_id: str, details: dict, actor: str | None,
                    now: datetime) -> None:
    """Audit ``key_created`` / ``key_retired`` (key ids and sources only, never key material)."""
    with engine.begin() as conn:
        audit.append(conn, action, key_id, details, actor=actor, now=now)


def add_local_key(settings: Settings, engine: Engine, actor: str | None, now: datetime) -> Keyring:
    """A fresh active key in the embedded keyring, audited (key ids only); the old keys stay.

    Refused when the keyring lives in the environment or Airflow: change it there.
    """
    keyring = data_keyring(settings)
    if not keyring_is_local(settings):
        raise KeyringError(f"the keyring comes from {keyring.source}: add the new key there, make "
                           "it active, then rotate without adding a key (`--no-new-key`)")
    keyring = keyring.with_new_key()
    save_local_keyring(settings, keyring)
    audit_key_event(engine, "key_created", keyring.active,
                    {"keyring": "local", "keys": sorted(keyring.keys)}, actor, now)
    return keyring


def retire_local_key(settings: Settings, engine: Engine, contracts: dict[str, Contract], key_id: str,
                     actor: str | None, now: datetime) -> Keyring | None:
    """Drop ``key_id`` (see :func:`retire`) from the embedded keyring, audited; returns what is
    left, or None when the keyring lives elsewhere (then remove it there)."""
    remaining = retire(engine, contracts, data_keyring(settings), key_id)
    if not keyring_is_local(settings):
        return None
    save_local_keyring(settings, remaining)
    audit_key_event(engine, "key_retired", key_id,
                    {"keyring": "local", "keys": sorted(remaining.keys)}, actor, now)
    return remaining
