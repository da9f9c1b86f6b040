"""Open data: de-identified, standardized, machine-readable, free of charge.

For each dataset whose open class is ``open``, the open-data location gets
``<id>/<id>.csv``, ``.json`` and ``.parquet`` (one row per published record)
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
(:mod:`jinshu.incident`). Each publication is also kept as a version,
``<id>/versions/<stamp>/``, which ``publications.location`` points at: an
incident withdraws the current copy to the newest safe one. Only the newest
versions are kept (``JINSHU_OPEN_DATA_VERSIONS``): the store is public, and a
record corrected or removed at the source should not stay published forever.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu import audit, incident, leakguard, mask
from jinshu.catalog import Contract, FieldSpec
from jinshu.objectstore import ObjectStore
from jinshu.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, describe, stamp
from jinshu.settings import DEFAULT_OPEN_DATA_VERSIONS
from jinshu.store import dataset_table, publications

LICENSE = {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
           "path": "https://creativecommons.org/licenses/by/4.0/"}
ACCRUAL = {"daily": "R/P1D", "weekly": "R/P1W", "monthly": "R/P1M", "quarterly": "R/P3M",
           "yearly": "R/P1Y"}
RECORD_COUNT = "record_count"
PROVENANCE_FIELDS = (
    {"name": SOURCE_DEPARTMENT, "title": "数据来源部门", "type": "string"},
    {"name": SOURCE_DATASET, "title": "来源数据集", "type": "string"},
    {"name": ACQUIRED_ON, "title": "数据获取日期", "type": "date"},
)
_TABLE_TYPES = {"string": "string", "integer": "integer", "decimal": "number", "date": "date"}


def treatment(spec: FieldSpec, contract: Contract) -> str:
    """``keep``, ``mask`` or ``drop`` for one field in open data."""
    if spec.sensitivity == "public":
        return "keep"
    if spec.sensitivity == "personal" and contract.open.already_disclosed:
        return "mask"
    return "drop"


def published_fields(contract: Contract) -> list[FieldSpec]:
    return [f for f in contract.fields if treatment(f, contract) != "drop"]


def suppress_rare(frame: pd.DataFrame, quasi_identifiers: list[str], k: int) -> pd.DataFrame:
    """Drop rows whose quasi-identifier combination occurs fewer than ``k`` times."""
    if not quasi_identifiers or frame.empty:
        return frame
    sizes = frame.groupby(quasi_identifiers, dropna=False)[quasi_identifiers[0]].transform("size")
    return frame[sizes >= k]


def aggregate(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int]:
    """Counts and sums per group; groups of fewer than ``k`` records are suppressed."""
    spec = contract.open.aggregate
    grouped = frame.groupby(list(spec.by), dropna=False)
    out = grouped.size().rename(RECORD_COUNT).to_frame()
    for name in spec.sum:
        out[f"sum_{name}"] = grouped[name].sum(min_count=1).astype("float64").round(2)
    out["_acquired_at"] = grouped["_acquired_at"].max()
    out = out.reset_index()
    rare = out[RECORD_COUNT] < contract.open.k
    return out[~rare], int(out.loc[rare, RECORD_COUNT].sum())


def anonymize(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int]:
    """(open rows with provenance, source records suppressed for k-anonymity)."""
    if contract.open.aggregate:
        groups, suppressed = aggregate(frame, contract)
        columns = [c["name"] for c in product_fields(contract)[:-len(PROVENANCE_FIELDS)]]
        stamped = stamp(groups[columns], contract, groups["_acquired_at"])
        return stamped.reset_index(drop=True), suppressed
    out = pd.DataFrame(index=frame.index)
    for f in published_fields(contract):
        values = frame[f.name]
        out[f.name] = mask.apply(f.mask_kind, values) if treatment(f, contract) == "mask" else values
    kept_qis = [q for q in contract.open.quasi_identifiers if q in out.columns]
    safe = suppress_rare(out, kept_qis, contract.open.k)
    stamped = stamp(safe, contract, frame.loc[safe.index, "_acquired_at"])
    return stamped.reset_index(drop=True), len(out) - len(safe)


def _field(spec: FieldSpec, contract: Contract) -> dict:
    out = {"name": spec.name, "title": spec.title,
           "type": "string" if treatment(spec, contract) == "mask" else _TABLE_TYPES[spec.type]}
    if spec.values:
        out["description"] = "; ".join(f"{code}={label}" for code, label in spec.values.items())
        out["constraints"] = {"enum": list(spec.values)}
    return out


def product_fields(contract: Contract) -> list[dict]:
    """Table Schema fields of the open product, provenance columns last."""
    spec = contract.open.aggregate
    if spec:
        fields = [_field(contract.by_name[n], contract) for n in spec.by]
        fields.append({"name": RECORD_COUNT, "title": "记录数", "type": "integer"})
        fields += [{"name": f"sum_{n}", "title": f"{contract.by_name[n].title}合计", "type": "number"}
                   for n in spec.sum]
    else:
        fields = [_field(f, contract) for f in published_fields(contract)]
    return [*fields, *PROVENANCE_FIELDS]


def table_schema(contract: Contract) -> dict:
    if contract.open.aggregate:
        key = list(contract.open.aggregate.by)
    else:
        key = [k for k in contract.natural_key if treatment(contract.by_name[k], contract) == "keep"]
    return {"fields": product_fields(contract), "primaryKey": key or None}


def datapackage(contract: Contract, rows: int, suppressed: int, provenance: dict) -> dict:
    schema = {k: v for k, v in table_schema(contract).items() if v is not None}
    resource = {"profile": "tabular-data-resource", "schema": schema}
    return {
        "profile": "tabular-data-package",
        "name": contract.id.replace("_", "-"),
        "title": contract.title,
        "description": contract.description,
        "licenses": [LICENSE],
        "created": provenance["published_at"],
        "sources": [{"title": contract.department.name, "path": f"jinshu://central/{contract.id}"}],
        "keywords": ["民生"] if contract.open.livelihood else [],
        "jinshu": {**provenance, "rows": rows, "suppressed_rows": suppressed,
                   "k_anonymity": contract.open.k if contract.open.quasi_identifiers else None,
                   "update_cycle": contract.update_cycle},
        "resources": [
            {**resource, "name": f"{contract.id.replace('_', '-')}-csv", "path": f"{contract.id}.csv",
             "format": "csv", "mediatype": "text/csv", "encoding": "utf-8"},
            {**resource, "name": f"{contract.id.replace('_', '-')}-json",
             "path": f"{contract.id}.json", "format": "json", "mediatype": "application/json",
             "encoding": "utf-8"},
            {**resource, "name": f"{contract.id.replace('_', '-')}-parquet",
             "path": f"{contract.id}.parquet", "format": "parquet",
             "mediatype": "application/vnd.apache.parquet"},
        ],
    }


def render(frame: pd.DataFrame, contract: Contract, package: dict) -> dict[str, bytes]:
    """File name -> bytes of the product's four files."""
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    return {
        f"{contract.id}.csv": frame.to_csv(index=False).encode("utf-8"),
        f"{contract.id}.json": frame.to_json(orient="records", force_ascii=False,
                                             date_format="iso").encode("utf-8"),
        f"{contract.id}.parquet": parquet.getvalue(),
        "datapackage.json": json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8"),
    }


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
            keep_versions: int = DEFAULT_OPEN_DATA_VERSIONS) -> int:
    """Write the dataset's open-data product (a new version and the current copy), then
    remove versions beyond the newest ``keep_versions``; returns rows published.
    Refused while the dataset is suspended; an incident opened meanwhile waits for it
    (:func:`jinshu.incident.dataset_lock`)."""
    with incident.dataset_lock(engine, contract.id):
        return _publish(engine, store, contract, now, keep_versions)


def _publish(engine: Engine, store: ObjectStore, contract: Contract, now: datetime,
             keep_versions: int) -> int:
    source = dataset_table(contract)
    needed = published_fields(contract)
    if contract.open.aggregate:
        names = {*contract.open.aggregate.by, *contract.open.aggregate.sum}
        needed = [f for f in contract.fields if f.name in names]
    columns = [source.c[f.name] for f in needed] + [source.c._acquired_at]
    with engine.connect() as conn:
        incident.ensure_available(conn, contract.id)
        frame = pd.read_sql(sa.select(*columns).order_by(*source.primary_key.columns
                                                           or [source.c._record_hash]), conn)
        newest = conn.execute(sa.select(sa.func.max(source.c._acquired_at))).scalar()
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
