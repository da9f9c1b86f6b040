"""Provenance stamps: every data product names its source, acquisition date, version and checksum.

The regulation (docs/regulation.md#provenance) asks that each data product state the
source of the government data it used and the date it was obtained. Each row of a
product carries ``source_department``, ``source_dataset`` and ``acquired_on`` (the day
its source batch was received, :func:`stamp`); each product as a whole carries a
**stamp**, a small JSON object that :func:`check` (and ``jinshu provenance verify``)
compares with the files and with the catalog.

The stamp format, ``jinshu-provenance/1`` (stable: the exchange stamps extracts with it too):

===================  ==========================================================================
key                  value
===================  ==========================================================================
``stamp``            ``"jinshu-provenance/1"``
``dataset``          the source dataset's id in the catalog (``minimum_living_allowance``)
``title``            its Chinese title
``department``       the source department's name (``山西省民政厅``)
``department_code``  its code in the catalog (``sx_minzheng``)
``acquired_at``      ISO 8601 UTC time the newest source batch in the product was received
``acquired_from``    ISO 8601 UTC time the oldest one was received
``version``          the product's version (open data: ``YYYYMMDDTHHMMSSZ``, UTC)
``published_at``     ISO 8601 UTC time the product was made
``publisher``        who made it (the platform)
``files``            file name -> ``{"sha256": hex, "bytes": n, "rows": n, "mediatype": ...}``
===================  ==========================================================================

An open-data version keeps its stamp as ``provenance.json`` beside its files; its
``datapackage.json`` repeats it (``jinshu.provenance``, and each resource's ``hash`` and
``bytes``), a Parquet file embeds it (key ``jinshu.provenance`` of the file metadata,
without ``files``), and the DCAT-AP catalog lists the same checksums
(``spdx:checksum``), version (``dcat:version``), department (``dct:publisher``) and
acquisition (``dct:temporal``), so an edited row changes a checksum and a forged date
disagrees with the catalog. Exchange extracts carry the same product-level facts
(:func:`describe`) in their own stamp, bound to their rows (:mod:`jinshu.share.stamp`).

>>> from datetime import UTC, datetime
>>> from jinshu.catalog import load_catalog
>>> from jinshu.settings import DEFAULT_CATALOG_DIR
>>> sites = load_catalog(DEFAULT_CATALOG_DIR)["vaccination_sites"]
>>> at = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
>>> data = b'[{"site_code": "A1"}]'
>>> got = make_stamp(sites, "v7", at, at, datetime(2025, 3, 5, tzinfo=UTC),
...                  {"x.json": file_entry("x.json", data, 1)})
>>> got["department"], got["acquired_at"], got["version"], got["files"]["x.json"]["rows"]
('山西省卫生健康委员会', '2025-03-04T10:30:00+00:00', 'v7', 1)
>>> check(got, {"x.json": data})
[]
>>> check(got, {"x.json": b'[{"site_code": "A2"}]'})[0][:47]
'x.json: sha256 differs from the stamp (expected'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import pandas as pd

from jinshu.catalog import Contract

FORMAT = "jinshu-provenance/1"
PUBLISHER = "山西省政务数据开放平台"  # the platform that makes the products
PUBLISHER_EN = "Shanxi Government Open Data Platform"
SOURCE_DEPARTMENT = "source_department"
SOURCE_DATASET = "source_dataset"
ACQUIRED_ON = "acquired_on"
STAMPED = ("dataset", "department", "department_code", "acquired_at", "acquired_from", "version",
           "published_at")  # what must agree wherever a stamp is repeated
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json",
               "parquet": "application/vnd.apache.parquet"}


def stamp(frame: pd.DataFrame, contract: Contract, acquired_at: pd.Series) -> pd.DataFrame:
    """Add source department, dataset and acquisition date (from each row's batch: a few
    distinct moments, each turned into a date once)."""
    codes, moments = pd.factorize(acquired_at)
    days = pd.to_datetime(pd.Series(moments), utc=True, format="ISO8601").dt.strftime("%Y-%m-%d").to_numpy()
    return frame.assign(**{
        SOURCE_DEPARTMENT: contract.department.name,
        SOURCE_DATASET: contract.id,
        ACQUIRED_ON: days[codes] if len(days) else pd.Series([], dtype=object).to_numpy(),
    })


def utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; the store writes them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    return utc(moment).astimezone(UTC).isoformat() if moment is not None else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(name: str, data: bytes, rows: int | None) -> dict:
    """One file's line in a stamp: checksum, size, rows and media type."""
    return {"sha256": sha256(data), "bytes": len(data), "rows": rows,
            "mediatype": MEDIA_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")}


def describe(contract: Contract, acquired_at: datetime | None, published_at: datetime) -> dict:
    """The source facts an exchange extract states (:mod:`jinshu.share.stamp`)."""
    return {
        "source_department": contract.department.name,
        "source_department_code": contract.department.code,
        "source_dataset": contract.id,
        "acquired_at": iso(acquired_at),
        "published_at": published_at.isoformat(),
    }


def make_stamp(contract: Contract, version: str, acquired_from: datetime | None,
               acquired_at: datetime | None, published_at: datetime,
               files: Mapping[str, dict] | None = None) -> dict:
    """The stamp of one product (see the module's table); ``files`` from :func:`file_entry`."""
    out = {
        "stamp": FORMAT, "dataset": contract.id, "title": contract.title,
        "department": contract.department.name, "department_code": contract.department.code,
        "acquired_at": iso(acquired_at), "acquired_from": iso(acquired_from),
        "version": version, "published_at": iso(published_at), "publisher": PUBLISHER,
    }
    if files is not None:
        out["files"] = dict(files)
    return out


def check(stamp_: Mapping, files: Mapping[str, bytes]) -> list[str]:
    """What in ``files`` (name -> bytes) does not match the stamp: one sentence each, naming
    the file and the property, never a value of the data."""
    problems = []
    if stamp_.get("stamp") != FORMAT:
        problems.append(f"the stamp is not in the {FORMAT} format")
    listed = stamp_.get("files") or {}
    for name, data in files.items():
        entry = listed.get(name)
        if entry is None:
            problems.append(f"{name}: not listed in the stamp of version {stamp_.get('version')}")
            continue
        digest = sha256(data)
        if digest != entry.get("sha256"):
            problems.append(f"{name}: sha256 differs from the stamp (expected {entry.get('sha256')}, "
                            f"found {digest}): the file was changed after publication")
        if len(data) != entry.get("bytes"):
            problems.append(f"{name}: {len(data)} bytes, the stamp says {entry.get('bytes')}")
    return problems


def compare(what: str, stamp_: Mapping, other: Mapping, keys: Iterable[str] = STAMPED) -> list[str]:
    """Where a repeated stamp (the package's, the file's, the catalog's) disagrees with it."""
    return [f"{key}: the stamp says {stamp_.get(key)!r}, {what} says {other.get(key)!r}"
            for key in keys if key in other and other.get(key) != stamp_.get(key)]
