"""A subject's history in one dataset: every version of its records, read by the owning department.

The operator gives the subject's identifier (resident ID number or credit code);
it is normalized and matched through its keyed pseudonym (``_subject_key``), and
is never stored, logged or printed back. Each version comes with its validity
``[valid_from, valid_to)`` (no ``valid_to``: the current version), the batch that
brought it and when that batch was acquired (:mod:`jinshu.store.versions`).

Values leave as the one exit policy says for reports
(:func:`jinshu.protect.policy.on_exit`, channel ``report``): personal, sensitive
and trade-secret fields masked. The owning department, authenticated by its own
exchange credential, reads personal fields in the clear; sensitive personal and
trade-secret fields never leave in the clear (:data:`jinshu.share.decision.NEVER_CLEAR`).
Every read is audited (``history_read``: the subject's pseudonym, the dataset, how
many versions, which fields were in the clear and under whose credential).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.protect import policy
from jinshu.protect.crypto import Protector
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.share.decision import NEVER_CLEAR
from jinshu.store import versions
from jinshu.store.tables import dataset_table
from jinshu.vocab import formats, mask

AUDIT_ACTION = "history_read"


class NotOwner(PermissionError):
    """The credential acts for another department than the dataset's owner."""


@dataclass(frozen=True)
class Version:
    valid_from: datetime
    valid_to: datetime | None  # None: the current version
    batch_id: str
    acquired_at: datetime
    values: dict[str, object]  # field -> value as it may be shown (masked unless clear)
    changed: tuple[str, ...] = ()  # fields whose value differs from the record's version before


@dataclass(frozen=True)
class History:
    dataset: str
    versions: list[Version]  # by natural key, then oldest first
    clear: tuple[str, ...]  # fields shown in the clear
    masked: tuple[str, ...]  # fields shown masked


def clear_for_owner(contract: Contract, department: str | None) -> tuple[str, ...]:
    """The fields ``department`` may read in the clear (none without a credential); raises
    :class:`NotOwner` when it is not the dataset's owner."""
    if department is None:
        return ()
    if department != contract.department.code:
        raise NotOwner(f"the credential acts for {department}; the history of {contract.id} is "
                       f"read by its owner, {contract.department.code} ({contract.department.name}). "
                       "Fix: use a credential of the owning department, or leave out --clear "
                       "(personal fields are then masked)")
    return tuple(f.name for f in contract.fields if f.sensitivity not in NEVER_CLEAR)


def subject_key(contract: Contract, identifier: str, protector: Protector) -> str:
    """The keyed pseudonym of the identifier as the store keeps it (normalized first)."""
    if not contract.subject_key:
        raise ValueError(f"{contract.id} has no subject (its contract names no subject_key): "
                         "there is no one's history to read. Fix: pick a dataset about persons "
                         "or organizations")
    spec = contract.by_name[contract.subject_key]
    value = pd.Series([identifier.strip()], dtype="str")
    if spec.format in formats.REGISTRY:
        checker = formats.REGISTRY[spec.format]
        value = checker.normalize(value)
        if hasattr(checker, "is_valid") and not checker.is_valid(value)[0]:
            raise ValueError(f"--subject is not a valid {checker.RULE.split(':')[0]}. "
                             f"Fix: {checker.FIX}")
    return protector.pseudonyms.one(value.iloc[0])


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or pd.isna(moment):
        return None
    moment = pd.Timestamp(moment).to_pydatetime()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shown(frame: pd.DataFrame, contract: Contract, clear: tuple[str, ...]) -> dict[str, pd.Series]:
    out = {}
    for spec in contract.fields:
        values = mask.as_text(frame[spec.name])
        out[spec.name] = (values if spec.name in clear else
                          policy.masked_for_exit(values, spec, contract, policy.REPORT))
    return out


def _changed(frame: pd.DataFrame, contract: Contract) -> list[tuple[str, ...]]:
    """Per version (rows by natural key, oldest first), the names of the fields whose clear
    value differs from the version before it of the same record; a first version: none. Names
    only, so a masked field's change shows without its value."""
    key = policy.key_columns(contract)
    out: list[tuple[str, ...]] = []
    before = None
    for _, row in frame.iterrows():
        same = before is not None and all(row[k] == before[k] for k in key)
        out.append(tuple(f.name for f in contract.fields if same and str(row[f.name])
                         != str(before[f.name])))
        before = row
    return out


def read_history(engine: Engine, contract: Contract, protector: Protector, identifier: str,
                 actor: str, now: datetime, department: str | None = None,
                 principal: str | None = None) -> History:
    """Every version of the subject's records in ``contract``'s dataset, audited.

    ``department``: the owning department, as its credential (``principal``) proved;
    None reads with every personal field masked.
    """
    clear = clear_for_owner(contract, department)
    key = subject_key(contract, identifier, protector)
    table = dataset_table(contract)
    # One branch per partial index: current versions, then earlier ones.
    found = sa.union_all(*(sa.select(table).where(table.c[SUBJECT_KEY] == key, where)
                           for where in (versions.current(table), versions.earlier(table)))).subquery()
    query = sa.select(found).order_by(*(found.c[k] for k in policy.key_columns(contract)),
                                      found.c[versions.VALID_FROM])
    with engine.begin() as conn:
        frame = pd.read_sql(query, conn)
        masked = tuple(f.name for f in contract.fields if f.name not in clear
                       and policy.on_exit(f, contract, policy.REPORT) == "mask")
        audit.append(conn, AUDIT_ACTION, key,
                     {"dataset": contract.id, "versions": len(frame), "clear_fields": list(clear),
                      "department": department, "principal": principal}, actor=actor, now=now)
    revealed = protector.reveal(frame, contract) if len(frame) else frame
    shown = _shown(revealed, contract, clear) if len(frame) else {}
    changes = _changed(revealed, contract)
    found = [Version(_utc(row[versions.VALID_FROM]), _utc(row[versions.VALID_TO]),
                     row["_batch_id"], _utc(row["_acquired_at"]),
                     {name: (None if pd.isna(values.iloc[i]) else values.iloc[i])
                      for name, values in shown.items()}, changes[i])
             for i, (_, row) in enumerate(frame.iterrows())]
    return History(contract.id, found, clear, masked)
