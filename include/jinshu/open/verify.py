"""``jinshu provenance verify``: a product against its stamp and the catalog, saying what differs.

A product is a data file (CSV, JSON or Parquet), a ``datapackage.json`` or a
``provenance.json``, given as a local path or as a key of the open-data location. Its
stamp is ``provenance.json`` beside it (or ``<file>.provenance.json``; a Parquet file
also embeds it). An exchange page saved as received (JSON with its ``provenance``
block) is checked against the checksum of its rows (:func:`jinshu.share.stamp.verify`)
and, given the store, against the exchange's access log: a page whose checksum the
exchange never delivered (a forged page re-stamped) is rejected. Checked:

* each file against the stamp: SHA-256 and size; when a checksum differs and the
  published original can be read, the rows and columns that differ;
* each file's own statements against the stamp: every row's ``source_dataset``,
  ``source_department`` and ``acquired_on`` (within the stamp's acquisition period), the
  Parquet file's embedded stamp, the package's version, ``created`` and provenance;
* the stamp against the catalog (DCAT-AP): the version is listed, and its department,
  acquisition period, publication time and checksums agree.

Messages name files, rows, columns and properties; a cell's value is never repeated.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from rdflib import Graph
from sqlalchemy.engine import Engine

from jinshu.open import catalog
from jinshu.open.package import CATALOG_JSONLD, PACKAGE, STAMP, version_prefix
from jinshu.open.provenance import (
    ACQUIRED_ON,
    SOURCE_DATASET,
    SOURCE_DEPARTMENT,
    STAMPED,
    check,
    compare,
)
from jinshu.share import stamp as exchange_stamp
from jinshu.store.objects import ObjectStore
from jinshu.store.tables import exchange_access

MAX_ROWS_NAMED = 5


class NotAProduct(ValueError):
    """The path is neither a product nor a stamp the verifier knows, or its stamp is missing."""


@dataclass
class Verdict:
    product: str
    dataset: str | None = None
    version: str | None = None
    checked: list[str] = field(default_factory=list)  # the files compared
    problems: list[str] = field(default_factory=list)
    exchange: bool = False  # an exchange page (its stamp and the access log, not the catalog)
    logged: bool = False  # the exchange's access log was consulted

    @property
    def genuine(self) -> bool:
        return not self.problems


@dataclass
class _Source:
    """Where the product and its siblings are read: a local folder or the open-data store."""

    folder: Path | None
    store: ObjectStore | None
    prefix: str = ""

    def read(self, name: str) -> bytes | None:
        try:
            if self.folder is not None:
                return (self.folder / name).read_bytes()
            return self.store.read(self.prefix + name) if self.store is not None else None
        except (FileNotFoundError, IsADirectoryError):
            return None


def _locate(target: str, store: ObjectStore | None) -> tuple[_Source, str]:
    path = Path(target)
    if path.is_file():
        return _Source(path.resolve().parent, None), path.name
    if path.is_absolute() or target.startswith("."):
        raise NotAProduct(f"{target}: no such file. Fix: give the path of a downloaded file, or a "
                          "key such as <dataset>/<version>/<file> of the open-data location")
    if store is not None and "/" in target:
        prefix, name = target.rsplit("/", 1)
        source = _Source(None, store, prefix + "/")
        if source.read(name) is not None:
            return source, name
    raise NotAProduct(f"{target}: no such file, here or in the open-data location. Fix: give the "
                      "path of a downloaded file, or a key such as <dataset>/<version>/<file>")


def _embedded(data: bytes) -> dict | None:
    meta = pq.ParquetFile(io.BytesIO(data)).schema_arrow.metadata or {}
    raw = meta.get(b"jinshu.provenance")
    return json.loads(raw) if raw else None


def _stamp_for(source: _Source, name: str, data: bytes) -> dict:
    if name == STAMP:
        return json.loads(data)
    if name == PACKAGE:
        stamp = json.loads(data).get("jinshu", {}).get("provenance")
        if stamp:
            return stamp
    for sidecar in (STAMP, f"{name}.provenance.json"):
        found = source.read(sidecar)
        if found is not None:
            return json.loads(found)
    if name.endswith(".parquet") and (embedded := _embedded(data)):
        return embedded
    raise NotAProduct(f"{name}: no provenance stamp beside it. Fix: keep provenance.json (or "
                      f"{name}.provenance.json) in the same folder, or verify the datapackage.json")


def _frame(name: str, data: bytes) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if name.endswith(".json"):
        return pd.DataFrame(json.loads(data)).astype(str)
    return pq.read_table(io.BytesIO(data)).to_pandas().astype(str)


def _readable(name: str, data: bytes) -> pd.DataFrame | None:
    try:
        return _frame(name, data)
    except (ValueError, OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _row_differences(name: str, found: pd.DataFrame, original: pd.DataFrame) -> list[str]:
    """Which rows and columns of ``found`` differ from the published original."""
    if list(found.columns) != list(original.columns):
        return [f"{name}: columns differ from the published version"]
    out = []
    if len(found) != len(original):
        out.append(f"{name}: {len(found)} rows, the published version has {len(original)}")
    n = min(len(found), len(original))
    changed = found.iloc[:n].reset_index(drop=True) != original.iloc[:n].reset_index(drop=True)
    rows = changed.any(axis=1)
    for i in rows[rows].index[:MAX_ROWS_NAMED]:
        columns = ", ".join(changed.columns[changed.loc[i]])
        line = f" (line {i + 2} of the file)" if name.endswith(".csv") else ""
        out.append(f"{name}: row {i + 1}{line} differs from the published version in {columns}")
    if rows.sum() > MAX_ROWS_NAMED:
        out.append(f"{name}: and {int(rows.sum()) - MAX_ROWS_NAMED} more changed rows")
    return out


def _statements(name: str, frame: pd.DataFrame, stamp: dict) -> list[str]:
    """What the rows themselves say against the stamp."""
    out = []
    for column, expected in ((SOURCE_DATASET, stamp.get("dataset")),
                             (SOURCE_DEPARTMENT, stamp.get("department"))):
        if column in frame and (frame[column] != expected).any():
            out.append(f"{name}: {int((frame[column] != expected).sum())} row(s) name another "
                       f"{column} than the stamp")
    low, high = (stamp.get("acquired_from") or "")[:10], (stamp.get("acquired_at") or "")[:10]
    if ACQUIRED_ON in frame and high:
        days = frame[ACQUIRED_ON].str.slice(0, 10)
        outside = (days > high) | (days < low)
        if outside.any():
            first = int(outside.to_numpy().argmax()) + 1
            out.append(f"{name}: {int(outside.sum())} row(s) give an acquisition date outside the "
                       f"stamp's period {low} to {high} (first: row {first})")
    return out


def _package(data: bytes, stamp: dict) -> list[str]:
    package = json.loads(data)
    out = compare(PACKAGE, stamp, package.get("jinshu", {}).get("provenance", {}))
    if package.get("version") != stamp.get("version"):
        out.append(f"{PACKAGE}: version {package.get('version')!r}, the stamp says {stamp.get('version')!r}")
    if package.get("created") != stamp.get("acquired_at"):
        out.append(f"{PACKAGE}: created {package.get('created')!r}, the stamp's acquisition is "
                   f"{stamp.get('acquired_at')!r}")
    files = stamp.get("files") or {}
    for resource in package.get("resources", []):
        declared = resource.get("hash", "").removeprefix("sha256:")
        entry = files.get(resource.get("path"), {})
        if declared and declared != entry.get("sha256"):
            out.append(f"{PACKAGE}: resource {resource.get('name')} declares another sha256 than the stamp")
    return out


def _against_catalog(stamp: dict, graph: Graph) -> list[str]:
    facts = catalog.version_facts(graph, stamp.get("dataset", ""), stamp.get("version", ""))
    if facts is None:
        return [f"version {stamp.get('version')} of {stamp.get('dataset')} is not in the catalog "
                "(never published, withdrawn, or no longer kept)"]
    keys = [k for k in STAMPED if k not in ("dataset", "version")]
    out = [f"catalog: {p}" for p in compare("the catalog", stamp, facts, keys)]
    for name, entry in (stamp.get("files") or {}).items():
        listed = facts["files"].get(name)
        if listed is not None and listed["sha256"] != entry.get("sha256"):
            out.append(f"catalog: {name}: the stamp's sha256 differs from the catalog's")
    return out


def _exchange_page(name: str, data: bytes) -> dict | None:
    """The body of an exchange page saved as received, or None for anything else."""
    if not name.endswith(".json") or name in (STAMP, PACKAGE):
        return None
    try:
        body = json.loads(data)
    except ValueError:
        return None
    stamped = body.get("provenance") if isinstance(body, dict) else None
    return body if isinstance(stamped, dict) and "checksum" in stamped else None


def _delivered(engine: Engine, page: dict) -> list[str]:
    """Whether the exchange's access log holds a delivery of this page's dataset, version,
    row count and checksum."""
    stamped = page["provenance"]
    a = exchange_access.c
    with engine.connect() as conn:
        found = conn.execute(sa.select(a.id).where(
            a.dataset_id == str(page.get("dataset")), a.version == str(stamped.get("version")),
            a.rows == len(page.get("rows") or []), a.checksum == str(stamped.get("checksum")))
            .limit(1)).first()
    return [] if found else ["access log: the exchange never delivered a page of this dataset and "
                             "version with these rows (forged, or re-stamped after an edit)"]


def verify(target: str, store: ObjectStore | None, catalog_graph: Graph | None,
           engine: Engine | None = None) -> Verdict:
    """Check the product at ``target`` (see the module) and say what does not match;
    ``engine``: the central store, for exchange pages."""
    source, name = _locate(target, store)
    data = source.read(name) or b""
    if (page := _exchange_page(name, data)) is not None:
        problems = exchange_stamp.verify(page)
        if engine is not None and not problems:
            problems = _delivered(engine, page)
        return Verdict(target, page.get("dataset"), page["provenance"].get("version"), [name],
                       problems, exchange=True, logged=engine is not None)
    stamp = _stamp_for(source, name, data)
    verdict = Verdict(target, stamp.get("dataset"), stamp.get("version"))
    names = list(stamp.get("files") or {}) if name in (STAMP, PACKAGE) else [name]
    files = {n: source.read(n) for n in names}
    for missing in [n for n, d in files.items() if d is None]:
        verdict.problems.append(f"{missing}: listed in the stamp but not found beside it")
    files = {n: d for n, d in files.items() if d is not None}
    verdict.checked = list(files)
    verdict.problems += check(stamp, files)
    original = _Source(None, store, version_prefix(stamp.get("dataset", ""), stamp.get("version", "")))
    for n, d in files.items():
        frame = _readable(n, d)
        if frame is None:
            verdict.problems.append(f"{n}: cannot be read as {n.rsplit('.', 1)[-1].upper()}")
            continue
        verdict.problems += _statements(n, frame, stamp)
        if n.endswith(".parquet") and (embedded := _embedded(d)):
            verdict.problems += [f"{n} (embedded stamp): {p}" for p in compare("the file", stamp, embedded)]
        digest_wrong = any(p.startswith(f"{n}: sha256") for p in verdict.problems)
        published = original.read(n) if digest_wrong and store is not None else None
        if published is not None and (before := _readable(n, published)) is not None:
            verdict.problems += _row_differences(n, frame, before)
    if name == PACKAGE:
        verdict.problems += _package(data, stamp)
    elif (package := source.read(PACKAGE)) is not None and name != STAMP:
        verdict.problems += _package(package, stamp)
    if catalog_graph is not None:
        verdict.problems += _against_catalog(stamp, catalog_graph)
    return verdict


def read_catalog(store: ObjectStore | None, path: str | None) -> Graph | None:
    """The catalog to check against: ``path`` (JSON-LD or Turtle), else the open-data location's."""
    if path is not None:
        return catalog.parse(Path(path).read_bytes(), path)
    if store is None:
        return None
    try:
        return catalog.parse(store.read(CATALOG_JSONLD), CATALOG_JSONLD)
    except FileNotFoundError:
        return None
