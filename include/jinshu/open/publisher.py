"""Open data: de-identified, standardized, machine-readable, free of charge.

For each dataset whose open class is ``open``, the open-data location gets
``<id>/<id>.csv``, ``.json`` and ``.parquet`` (one row per published record,
its current version: earlier versions are never opened)
and a Frictionless ``datapackage.json`` naming the source department and
the acquisition date; ``catalog.json`` at the top lists every product with
DCAT terms.

De-identification: sensitive personal, internal and trade-secret fields are
removed; personal fields are removed too, unless the dataset was already
disclosed by law (then they are masked); rows whose quasi-identifier
combination is shared by fewer than ``k`` records are suppressed. A dataset
whose contract asks for ``open.aggregate`` opens as counts and sums per
group instead of records; groups of fewer than ``k`` are suppressed. Before
anything is written, the leak guard scans the files: a raw identifier blocks
the publication, the previous version stays live and an incident is opened
(:mod:`jinshu.govern.incident`). Each publication is also kept as a version,
``<id>/versions/<stamp>/``, which ``publications.location`` points at: an
incident withdraws the current copy to the newest safe one. Only the newest
versions are kept (``JINSHU_OPEN_DATA_VERSIONS``): the store is public, and a
record corrected or removed at the source should not stay published forever.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern import audit, incident
from jinshu.open.product import ACCRUAL, LICENSE, anonymize, datapackage, published_fields, render
from jinshu.open.provenance import describe
from jinshu.protect import leakguard
from jinshu.repeat import authority
from jinshu.settings import DEFAULT_OPEN_DATA_VERSIONS
from jinshu.store import versions
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import dataset_table, publications


def version_key(contract: Contract, now: datetime) -> str:
    """``<id>/versions/<UTC stamp>/``: where one publication's files are kept."""
    return f"{contract.id}/versions/{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}/"


def stale_versions(store: ObjectStore, dataset_id: str, keep: int) -> list[str]:
    """Keys of the files of every version of the dataset but the newest ``keep``."""
    prefix = f"{dataset_id}/versions/"
    files: dict[str, list[str]] = {}
    for obj in store.list(prefix):
        files.setdefault(obj.key.removeprefix(prefix).split("/", 1)[0], []).append(obj.key)
    return [key for stamp in sorted(files, reverse=True)[keep:] for key in files[stamp]]


def publish(engine: Engine, store: ObjectStore, contract: Contract, now: datetime,
            keep_versions: int = DEFAULT_OPEN_DATA_VERSIONS,
            heads: ObjectStore | None = None, catalog: dict[str, Contract] | None = None) -> int:
    """Write the dataset's open-data product (a new version and the current copy), then
    remove versions beyond the newest ``keep_versions``; returns rows published.
    Refused while the dataset is suspended; an incident opened meanwhile waits for it
    (:func:`jinshu.govern.incident.dataset_lock`). Then the audit chain's head goes to
    ``heads`` (:func:`jinshu.govern.audit.publish_head`). A field the dataset takes from its
    concept's authority is read there (``catalog`` names the authorities)."""
    with incident.dataset_lock(engine, contract.id):
        rows = _publish(engine, store, contract, now, keep_versions, catalog)
    if heads is not None:
        audit.publish_head(engine, heads, now)
    return rows


def _publish(engine: Engine, store: ObjectStore, contract: Contract, now: datetime,
             keep_versions: int, catalog: dict[str, Contract] | None) -> int:
    source = dataset_table(contract)
    read = authority.resolved(contract, catalog)
    needed = published_fields(contract)
    if contract.open.aggregate:
        names = {*contract.open.aggregate.by, *contract.open.aggregate.sum}
        needed = [f for f in contract.fields if f.name in names]
    with engine.connect() as conn:
        incident.ensure_available(conn, contract.id)
        frame = pd.read_sql(read.select([*(f.name for f in needed), "_acquired_at"])
                            .order_by(source.c._record_hash), conn)
        newest = conn.execute(sa.select(sa.func.max(source.c._acquired_at))
                              .where(versions.current(source))).scalar()
    for f in needed:
        if f.type == "date":
            frame[f.name] = pd.to_datetime(frame[f.name]).dt.strftime("%Y-%m-%d")
        elif f.type == "string":
            frame[f.name] = frame[f.name].astype("str")
    open_rows, suppressed = anonymize(frame, contract)
    package = datapackage(contract, len(open_rows), suppressed, describe(contract, newest, now))
    files = render(open_rows, contract, package)
    try:
        for name, data in files.items():  # fail closed: scan everything before writing anything
            if not name.endswith(".parquet"):  # same values as the CSV, in binary
                leakguard.guard(f"{store.url}/{contract.id}/{name}", data)
    except leakguard.LeakFound as leak:
        incident.leak_blocked(engine, contract.id, "open_data", leak, now)
        raise
    version = version_key(contract, now)
    for name, data in files.items():
        store.write(version + name, data)
    for name, data in files.items():
        store.write(f"{contract.id}/{name}", data)
    stale = stale_versions(store, contract.id, keep_versions)
    with engine.begin() as conn:
        audit.append(conn, "publish_open_data", contract.id,
                     {"rows": len(open_rows), "suppressed_rows": suppressed, "version": version,
                      "files_of_old_versions_removed": len(stale)}, now=now)
        conn.execute(publications.insert().values(
            channel="open_data", dataset_id=contract.id, published_at=now, acquired_at=newest,
            rows=len(open_rows), suppressed_rows=suppressed, location=f"{store.url}/{version}"))
    for key in stale:  # after the commit: if this fails, the next publish removes them
        store.delete(key)
    return len(open_rows)


def write_catalog(store: ObjectStore, contracts: list[Contract], now: datetime) -> None:
    """``catalog.json``: the open-data catalog in DCAT terms."""
    datasets = [{
        "@type": "dcat:Dataset",
        "dct:identifier": c.id,
        "dct:title": c.title,
        "dct:description": c.description,
        "dct:publisher": c.department.name,
        "dcat:theme": "民生" if c.open.livelihood else "政务",
        "dct:accrualPeriodicity": ACCRUAL[c.update_cycle],
        "dct:modified": now.isoformat(),
        "dct:license": LICENSE["path"],
        "dcat:distribution": [
            {"dcat:downloadURL": f"{c.id}/{c.id}.{ext}", "dcat:mediaType": media}
            for ext, media in (("csv", "text/csv"), ("json", "application/json"),
                               ("parquet", "application/vnd.apache.parquet"))
        ],
    } for c in contracts]
    catalog = {"@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/"},
               "@type": "dcat:Catalog", "dct:title": "山西省公共数据开放目录", "dcat:dataset": datasets}
    store.write("catalog.json", json.dumps(catalog, ensure_ascii=False, indent=2).encode("utf-8"))
