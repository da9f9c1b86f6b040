"""Consent extracts: departments drop decisions in ``landing/<dept>/consent/``.

Each file is one batch in the ledger (dataset ``consent``): read, conformed
and checked like any extract (undeclared columns recorded as scope violations,
their values never kept), then checked against the catalog (the dataset
must be the department's, the field must be collected on consent, the date
not in the future). Good rows become decisions keyed by the subject's
pseudonym; bad rows are quarantined with their reason. One transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from jinshu.catalog import Contract, Department
from jinshu.collect import consent, consent_registry
from jinshu.collect.conform import conform, declared_only
from jinshu.collect.read import ROW, UnreadableFile, read_extract
from jinshu.collect.rules import check_rows
from jinshu.govern import audit
from jinshu.ingest import stages
from jinshu.ingest.load import record_scope_violations
from jinshu.ingest.quarantine import (
    quarantine_file,
    ragged_rejections,
    read_landed,
    row_rejections,
    withhold_raw,
)
from jinshu.protect import crypto, keys
from jinshu.protect.keys import pseudonym_key
from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.repeat import ledger
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.tables import quarantine


def departments(contracts: dict[str, Contract]) -> list[Department]:
    return sorted({c.department for c in contracts.values()}, key=lambda d: d.code)


def discover(settings: Settings, contracts: dict[str, Contract]) -> list[str]:
    """New consent files of every department, recorded in the ledger; those waiting."""
    waiting: list[str] = []
    for department in departments(contracts):
        waiting += stages.discover(settings, consent.consent_contract(department), contracts)
    return list(dict.fromkeys(waiting))


def record_extract(settings: Settings, contracts: dict[str, Contract], batch_id: str,
                   today: datetime | None = None) -> ledger.Counts:
    """Read, check and record one consent file; closes its batch."""
    now = datetime.now(UTC)
    today = (today or now).date()
    engine = engine_for(settings.store_url)
    with engine.connect() as conn:
        batch = ledger.get(conn, batch_id)
    if batch.status != ledger.OPEN:
        return ledger.Counts(batch.rows_in, batch.stored, batch.duplicates, batch.quarantined)
    department = next(d for d in departments(contracts) if d.code == batch.department)
    contract = consent.consent_contract(department)
    try:
        extract = read_extract(batch.file_key, read_landed(settings, batch))
        conformed, scope = conform(extract.frame, contract)
    except (UnreadableFile, ValueError) as error:
        quarantine_file(settings, batch, error)
        with engine.connect() as conn:
            row = ledger.get(conn, batch_id)
        return ledger.Counts(row.rows_in, row.stored, row.duplicates, row.quarantined)
    checked = check_rows(conformed, contract)
    valid = checked.valid
    extra = consent.check_decisions(valid, department.code, contracts, today)
    violations = pd.concat([checked.violations, extra], ignore_index=True)
    good = valid[~valid[ROW].isin(extra[ROW])].copy()
    good["subject_key"] = Pseudonymizer(pseudonym_key(settings)).many(good["id_number"])
    ragged = ragged_rejections(batch.file_key, extract.bad_records)
    rejected = pd.concat([  # originals keep the declared columns only, as for datasets
        withhold_raw(ragged) if scope else ragged,
        row_rejections(batch.file_key, declared_only(extract.frame, scope).set_index(ROW),
                       violations),
    ], ignore_index=True)
    rejected["original"] = crypto.seal_originals(
        rejected["original"], contract, keys.protector(settings),
        crypto.quarantine_rows(batch_id, rejected["source_row"]))
    with engine.begin() as conn:
        recorded, known = consent_registry.record_decisions(conn, good, contracts, batch_id, now)
        if not rejected.empty:
            conn.execute(quarantine.insert(), rejected.assign(batch_id=batch_id).to_dict("records"))
        record_scope_violations(conn, batch, contract, scope)
        counts = ledger.Counts(extract.rows_in, recorded, known, len(rejected))
        ledger.close(conn, batch_id, "loaded" if recorded + known else "quarantined", counts, now,
                     encoding=extract.encoding)
    return counts


def record_one(settings: Settings, contracts: dict[str, Contract], *, dataset: str, field: str,
               id_number: str, decision: str, channel: str, on: str | None, actor: str) -> str:
    """Record one decision from the command line; raises ValueError naming what is wrong."""
    now = datetime.now(UTC)
    if dataset not in contracts:
        raise ValueError(f"unknown dataset '{dataset}'; use one of {sorted(contracts)}")
    contract = consent.consent_contract(contracts[dataset].department)
    frame = pd.DataFrame({"id_number": [id_number], "dataset": [dataset], "field": [field],
                          "decision": [decision], "decided_on": [on or now.date().isoformat()],
                          "channel": [channel]}, dtype="str").assign(**{ROW: 1})
    checked = check_rows(frame, contract)
    problems = pd.concat([checked.violations, consent.check_decisions(
        checked.valid, contract.department.code, contracts, now.date())], ignore_index=True)
    if not problems.empty:
        raise ValueError("; ".join(f"{c}: {d}. Fix: {f}" for c, d, f in
                                   problems[["column", "detail", "fix"]].itertuples(index=False)))
    good = checked.valid.assign(
        subject_key=Pseudonymizer(pseudonym_key(settings)).many(checked.valid["id_number"]))
    with engine_for(settings.store_url).begin() as conn:
        recorded, _ = consent_registry.record_decisions(conn, good, contracts, "cli", now,
                                               actor=actor)
    row = good.iloc[0]
    what = f"{row['decision']} for {dataset}.{field} on {row['decided_on']}"
    return f"recorded: {what}" if recorded else f"already recorded: {what}"


def decisions_of(settings: Settings, id_number: str, actor: str) -> list[str]:
    """One line per decision and withdrawal for the subject, oldest first (an audited lookup)."""
    from jinshu.store.tables import consents, withdrawals
    from jinshu.vocab.formats import cn_ric

    normalized = cn_ric.normalize(pd.Series([id_number.strip()], dtype="str"))
    subject = Pseudonymizer(pseudonym_key(settings)).one(normalized.iloc[0])
    with engine_for(settings.store_url).begin() as conn:
        audit.append(conn, "consent_lookup", subject, actor=actor)
        decided = conn.execute(consents.select().where(consents.c.subject_key == subject)
                               .order_by(consents.c.decided_on, consents.c.id)).all()
        honored = conn.execute(withdrawals.select().where(withdrawals.c.subject_key == subject)
                               .order_by(withdrawals.c.id)).all()
    lines = [f"{d.decided_on}  {d.dataset_id}.{d.field}  {d.decision}  via {d.channel}"
             f"  (source {d.source})" for d in decided]
    lines += [f"{w.honored_at:%Y-%m-%d %H:%M}  {w.dataset_id}.{w.field}  withdrawal honored:"
              f" {w.values_removed} stored value(s) removed" for w in honored]
    return lines or ["no consent decisions recorded for this subject"]
