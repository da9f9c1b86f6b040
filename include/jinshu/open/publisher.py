"""Open data: anonymized, standardized, machine-readable, free of charge, versioned.

For each dataset whose open class is ``open``, one publication writes a new version
under ``<dataset>/<version>/`` (CSV, JSON and Parquet of the product
(:mod:`jinshu.open.product`) over current versions only, a field taken from its authority
read there (:mod:`jinshu.repeat.authority`), ``datapackage.json`` and the provenance stamp
``provenance.json``), records it (``publications``, the audit log), and only then, as
the last write of the transaction, moves the pointer ``<dataset>/latest.json`` to it.
A failure on the way (the store, the database, the leak guard) leaves the pointer on
the previous complete version; the half-written folder is removed by the next run.
Versions beyond the newest ``JINSHU_OPEN_DATA_VERSIONS`` are deleted, since the
location is public. The dataset's page follows; the catalog (DCAT-AP, the catalog page)
is rewritten by :func:`write_catalog` once per run, livelihood datasets first.

Before anything is written the leak guard scans the text files: a raw identifier blocks
the publication, the previous version stays current, and an incident is opened
(:mod:`jinshu.govern.incident`).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern import audit, incident
from jinshu.open import package, product, provenance, site
from jinshu.protect import leakguard, policy
from jinshu.repeat import authority
from jinshu.settings import DEFAULT_OPEN_DATA_VERSIONS, DEFAULT_PUBLIC_URL
from jinshu.store import dialect
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import publications


@dataclass(frozen=True)
class Published:
    rows: int
    version: str | None  # None: the dataset has no record yet, nothing was published
    suppressed: int


def needed_columns(contract: Contract) -> list[str]:
    """Stored columns the product reads: published fields (or those an aggregate groups and
    sums), the acquisition time, and the keys cell-key noise is drawn from."""
    if contract.open.aggregate:
        spec = contract.open.aggregate
        names = [f.name for f in contract.fields if f.name in (*spec.by, *spec.sum)]
        return [*names, "_acquired_at", "_subject_key", "_record_hash"]
    names = [f.name for f in contract.fields
             if policy.on_exit(f, contract, policy.OPEN_DATA) != "drop"]
    return [*names, "_acquired_at"]


def select_needed(contract: Contract, catalog: dict[str, Contract] | None) -> sa.Select:
    """The columns the product needs, of current versions, taken fields read at their authority."""
    read = authority.resolved(contract, catalog)
    return read.select(needed_columns(contract)).order_by(read.columns["_record_hash"])


def distinct_text(rows) -> bytes:
    """The column names and every distinct value of the rows, one per line: what the three data
    files hold, each value once (a county name repeated a million times is scanned once; the
    guard reads cells one by one, never across a CSV comma)."""
    lines = [",".join(rows.columns)]
    for name in rows.columns:
        lines += [str(v) for v in rows[name].dropna().unique()]
    return "\n".join(lines).encode("utf-8")


def guard(contract: Contract, made: product.Product, files: dict[str, bytes], where: str) -> None:
    """The leak guard over a version before any of it is written (fail closed)."""
    leakguard.guard(where + package.data_file(contract.id, "csv"), distinct_text(made.rows))
    for name in (package.PACKAGE, package.STAMP):
        leakguard.guard(where + name, files[name])


def read_product(engine: Engine, contract: Contract,
                 catalog: dict[str, Contract] | None = None) -> product.Product:
    query = select_needed(contract, catalog)
    with engine.connect() as conn:
        incident.ensure_available(conn, contract.id)
        frame = dialect.read_text_frame(conn, query)
    return product.build(product.typed(frame, contract), contract)


def _unique_version(store: ObjectStore, contract: Contract, now: datetime, taken: list[str]) -> str:
    version = package.version_name(now)
    existing = set(taken) | set(site.version_folders(store, contract.id))
    suffix = 1
    while version in existing:  # two publications in one second
        suffix += 1
        version = f"{package.version_name(now)}-{suffix}"
    return version


def render(contract: Contract, made: product.Product, version: str, now: datetime,
           public_url: str) -> dict[str, bytes]:
    """Every file of the version: the data, then the package and the stamp."""
    bare = provenance.make_stamp(contract, version, made.acquired_from, made.acquired_at, now)
    table = product.arrow_table(made.rows, made.fields)
    names = {fmt: package.data_file(contract.id, fmt) for fmt in package.FORMATS}
    embedded = {"jinshu.provenance": json.dumps(bare, ensure_ascii=False)}
    with ThreadPoolExecutor(2) as pool:  # Arrow leaves the GIL: CSV and Parquet beside the JSON
        csv, parquet = pool.submit(product.to_csv, table), pool.submit(
            product.to_parquet, table, made.fields, embedded)
        files = {names["json"]: product.to_json(table)}
        files[names["csv"]], files[names["parquet"]] = csv.result(), parquet.result()
    stamp = {**bare, "files": {n: provenance.file_entry(n, data, len(made.rows))
                               for n, data in files.items()}}
    files[package.PACKAGE] = package.dumps(package.datapackage(contract, made, stamp, public_url))
    files[package.STAMP] = package.dumps(stamp)
    return files


def publish(engine: Engine, store: ObjectStore, contract: Contract, now: datetime,
            keep_versions: int = DEFAULT_OPEN_DATA_VERSIONS, heads: ObjectStore | None = None,
            public_url: str = DEFAULT_PUBLIC_URL,
            catalog: dict[str, Contract] | None = None) -> int:
    """Publish a new version of the dataset (see the module); returns the rows published.
    Refused while the dataset is suspended; an incident opened meanwhile waits for it
    (:func:`jinshu.govern.incident.dataset_lock`). Then the audit chain's head goes to
    ``heads`` (:func:`jinshu.govern.audit.publish_head`). A field the dataset takes from its
    concept's authority is read there (``catalog`` names the authorities)."""
    with incident.dataset_lock(engine, contract.id):
        done = _publish(engine, store, contract, now, keep_versions, public_url, catalog)
    if heads is not None:
        audit.publish_head(engine, heads, now)
    return done.rows


def _publish(engine: Engine, store: ObjectStore, contract: Contract, now: datetime,
             keep_versions: int, public_url: str,
             catalog: dict[str, Contract] | None) -> Published:
    made = read_product(engine, contract, catalog)
    if made.acquired_at is None:  # nothing stored yet: nothing to open
        return Published(0, None, 0)
    latest = site.pointer(store, contract.id)
    kept = latest["versions"] if latest else []
    version = _unique_version(store, contract, now, kept)
    files = render(contract, made, version, now, public_url)
    try:
        guard(contract, made, files, f"{store.url}/{package.version_prefix(contract.id, version)}")
    except leakguard.LeakFound as leak:
        incident.leak_blocked(engine, contract.id, "open_data", leak, now)
        raise
    prefix = package.version_prefix(contract.id, version)
    for name, data in files.items():
        store.write(prefix + name, data)
    versions = [version, *kept][:keep_versions]
    suppressed = made.disclosure.suppressed_records
    with engine.begin() as conn:
        audit.append(conn, "publish_open_data", contract.id,
                     {"rows": len(made.rows), "suppressed_rows": suppressed, "version": version,
                      "k_anonymity": made.disclosure.k_achieved,
                      "versions_removed": len(kept) + 1 - len(versions)}, now=now)
        conn.execute(publications.insert().values(
            channel="open_data", dataset_id=contract.id, published_at=now, acquired_at=made.acquired_at,
            rows=len(made.rows), suppressed_rows=suppressed, location=f"{store.url}/{prefix}"))
        # the last write, inside the transaction: if it fails nothing is recorded either
        store.write(f"{contract.id}/{package.LATEST}",
                    package.dumps(package.pointer(contract, version, versions, now, public_url)))
    site.delete_versions(store, contract.id, versions)  # stale, and any left half-written
    site.write_dataset_page(store, contract.id, now)
    return Published(len(made.rows), version, suppressed)


def write_catalog(store: ObjectStore, contracts: list[Contract], now: datetime,
                  public_url: str = DEFAULT_PUBLIC_URL) -> list[str]:
    """The DCAT-AP catalog (``catalog.jsonld``, ``catalog.ttl``) and the catalog page of the
    open datasets that have a current version, livelihood first; returns their ids."""
    return site.write_catalog(store, [c.id for c in contracts if c.is_open], public_url, now)


def publication_order(contracts: list[Contract]) -> list[Contract]:
    """Livelihood datasets first (民生优先), then the others, each group by id."""
    return sorted((c for c in contracts if c.is_open), key=lambda c: (not c.open.livelihood, c.id))
