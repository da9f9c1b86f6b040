"""Counts and content checksums of what a day of drops left: the central store (the ledger and
the exchange included) and the buckets, comparable between two runs on the same inputs.

Left out on purpose, because they differ between two correct runs of the same inputs:

* **times** of the run: ``received_at``, ``finished_at``, ``file_modified`` (the drop's upload
  time), ``validated_at``, ``recorded_at``, ``seen_at``, ``first_seen``, ``published_at``,
  ``acquired_at`` / ``_acquired_at`` and the ``acquired_on`` date stamped on exchange and
  open-data rows, the audit log's ``at``, the data package's ``created`` and the catalog's
  ``dct:modified``;
* **serial ids** the database hands out in commit order: ``id`` columns and the audit log's
  ``seq``, with ``hash`` / ``prev_hash`` that chain entries in that order (the chain is
  checked on its own: :func:`audit_chain_intact`);
* **batch ids**, derived from the dropped object's upload time among others: wherever one
  appears (lineage columns, the ledger, quarantine, audit subjects and details) it is
  replaced by ``batch:<dataset>:<file as shown>``, which is the same in both runs; and
  open-data **version names** (``<id>/<UTC time>/``) by ``<version>``;
* **random nonces**: AES-GCM envelopes are compared by their plaintext (decrypted with the
  deployment's keys), and a data key's ``check_value`` is left out;
* **how many times the publishers ran**: asset events arriving while a publisher runs are
  batched into fewer runs or not, so only the newest publication per channel and dataset
  counts (``publications`` and the ``publish_*`` audit entries, without what a run wrote,
  which depends on the runs before it: ``RUN_HISTORY``), the open-data product's
  current version counts (its data files' rows, :func:`open_data_parts`) and the audit
  heads are left out.

Everything else is compared row by row: a record lost, stored twice, quarantined
differently or published differently changes a count or a checksum.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from jinshu.catalog import Contract
from jinshu.govern import audit
from jinshu.open.package import FORMATS, LATEST, data_file
from jinshu.protect import crypto, keys, policy
from jinshu.settings import Settings
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore

RUN_TIMES = {"received_at", "finished_at", "file_modified", "validated_at", "recorded_at",
             "seen_at", "first_seen", "published_at", "acquired_at", "_acquired_at",
             "_valid_from", "_valid_to", "delivered_at", "generated_at",
             "acquired_on", "honored_at", "at", "created", "dct:modified"}
SERIALS = {"id", "seq", "hash", "prev_hash", "through_seq"}
NONCES = {"check_value"}
PUBLISH_ACTIONS = {"publish_exchange", "publish_open_data"}
# What a publish run wrote depends on the runs before it (an incremental publish after another
# writes what changed since; the versions removed, how many were kept): only its result counts.
RUN_HISTORY = {"written", "replaced", "batches", "subjects", "versions_removed"}
LEFT_OUT = RUN_TIMES | SERIALS | NONCES
VERSION_STAMP = re.compile(r"\d{8}T\d{6}Z(-\d+)?")  # jinshu.open.package.version_name


@dataclass(frozen=True)
class Part:
    """One table or group of objects: how many rows and a checksum of their contents."""

    rows: int
    digest: str


def _texts(rows: Iterable[object], names: Mapping[str, str] | None = None) -> list[str]:
    """Each row as canonical JSON, batch ids replaced by their stable names; sorted."""
    texts = []
    for row in rows:
        text = json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)
        for batch_id, name in (names or {}).items():
            text = text.replace(batch_id, name)
        texts.append(VERSION_STAMP.sub("<version>", text))
    return sorted(texts)


def _digest(texts: list[str]) -> Part:
    return Part(len(texts), hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16])


def _clean(row: Mapping) -> dict:
    return {k: _plain(v) for k, v in row.items() if k not in LEFT_OUT}


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, dict):
        return _clean(value)
    return value


def store_rows(settings: Settings, contracts: Mapping[str, Contract]) -> dict[str, list[str]]:
    """Every table of the central store as sorted canonical rows, clear values in place of
    envelopes, run-specific columns left out (see the module's doc)."""
    engine = engine_for(settings.store_url)
    protector = keys.protector(settings)
    by_table = {c.table: c for c in contracts.values()}
    tables: dict[str, list[str]] = {}
    with engine.connect() as conn:
        names = {r.batch_id: f"batch:{r.dataset_id}:{r.file_key}" for r in conn.execute(
            sa.text("SELECT batch_id, dataset_id, file_key FROM batches"))}
        for table in sorted(sa.inspect(conn).get_table_names()):
            frame = pd.read_sql(sa.text(f'SELECT * FROM "{table}"'), conn)
            if table in by_table and policy.encrypted_fields(by_table[table]):
                frame = protector.reveal(frame, by_table[table])
            rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
            if table == "quarantine":
                rows = [_revealed_original(r, settings, contracts, conn) for r in rows]
            tables[table] = _texts(_table_rows(table, rows), names)
    return tables


def parts_of(rows: Mapping[str, list[str]]) -> dict[str, Part]:
    return {table: _digest(texts) for table, texts in rows.items()}


def _table_rows(table: str, rows: list[dict]) -> list[dict]:
    if table == "publications":
        return [_clean(r) for r in _newest(rows, ("channel", "dataset_id"), "published_at").values()]
    if table == "audit_log":
        kept = [r for r in rows if r["action"] not in PUBLISH_ACTIONS]
        publishes = [r for r in rows if r["action"] in PUBLISH_ACTIONS]
        kept += _newest(publishes, ("action", "subject"), "seq").values()
        return [{**_clean(r), "details": _details(r)} for r in kept]
    return [_clean(r) for r in rows]


def _details(row: dict) -> object:
    details = _plain(json.loads(row["details"]))
    if row["action"] in PUBLISH_ACTIONS and isinstance(details, dict):
        return {k: v for k, v in details.items() if k not in RUN_HISTORY}
    return details


def _newest(rows: list[dict], key: tuple[str, ...], order: str) -> dict[tuple, dict]:
    newest: dict[tuple, dict] = {}
    for row in sorted(rows, key=lambda r: r[order]):
        newest[tuple(row[k] for k in key)] = row
    return newest


def _revealed_original(row: dict, settings: Settings, contracts: Mapping[str, Contract],
                       conn: sa.Connection) -> dict:
    """A quarantined row's original values in the clear (sealed for sensitive datasets)."""
    dataset = conn.execute(sa.text("SELECT dataset_id FROM batches WHERE batch_id = :b"),
                           {"b": row["batch_id"]}).scalar()
    contract = contracts.get(dataset)
    if contract is None or row["source_row"] is None or not policy.encrypted_fields(contract):
        return row
    sealed = pd.Series([row["original"]], dtype="str")
    where = pd.Series([crypto.quarantine_row(row["batch_id"], row["source_row"])], dtype="str")
    clear = keys.protector(settings).decrypt(sealed, contract, crypto.ORIGINALS, where)[0]
    return {**row, "original": clear}


def audit_chain_intact(settings: Settings) -> bool:
    with engine_for(settings.store_url).connect() as conn:
        return audit.verify(conn).intact


# --- buckets ---------------------------------------------------------------------------------


def open_data_parts(store: ObjectStore) -> dict[str, Part]:
    """Each open dataset's current version (its ``latest.json``): the rows of its CSV, JSON and
    Parquet files, run times left out. The versions kept, the package and stamp (version
    names, times, checksums over them), the pages and the catalog (times) are not compared."""
    parts = {}
    for obj in store.list(""):
        if not obj.key.endswith("/" + LATEST):
            continue
        latest = json.loads(store.read(obj.key))
        for fmt in FORMATS:
            name = data_file(latest["dataset"], fmt)
            parts[f"{latest['dataset']}/<current>/{name}"] = _digest(_texts(
                _file_rows(name, store.read(latest["path"] + name))))
    return parts


def _file_rows(name: str, data: bytes) -> list[object]:
    if name.endswith(".csv"):
        return [_clean(r) for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
    if name.endswith(".parquet"):
        return [_clean(r) for r in pq.read_table(io.BytesIO(data)).to_pylist()]
    return [_clean(r) for r in json.loads(data)]


def keys_of(store: ObjectStore, prefix: str = "") -> list[str]:
    return sorted(o.key for o in store.list(prefix))
