"""One open-data version's files: where they go, the data package and the provenance stamp.

Layout of the open-data location (a folder or a bucket), all keys relative to it::

    index.html  index.json  catalog.jsonld  catalog.ttl     the catalog (pages and DCAT-AP)
    <dataset>/index.html                                    the dataset's page
    <dataset>/latest.json                                   the pointer: current version, kept versions
    <dataset>/<version>/<dataset>.csv|.json|.parquet        the data, three formats
    <dataset>/<version>/datapackage.json                    Frictionless data package
    <dataset>/<version>/provenance.json                     the stamp (jinshu.open.provenance)

A version's folder is complete before the pointer names it; the pointer is written last.

>>> from datetime import UTC, datetime
>>> version_name(datetime(2025, 3, 5, 8, 0, 1, 5, tzinfo=UTC))
'20250305T080001Z'
>>> absolute("https://data.example.cn/open/", "sites/20250305T080001Z/sites.csv")
'https://data.example.cn/open/sites/20250305T080001Z/sites.csv'
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from jinshu.catalog import Contract
from jinshu.open.anonymize import Disclosure
from jinshu.open.product import Product
from jinshu.open.provenance import MEDIA_TYPES, PUBLISHER, PUBLISHER_EN
from jinshu.vocab.licences import LICENCES
from jinshu.vocab.themes import THEMES

LATEST = "latest.json"
PACKAGE = "datapackage.json"
STAMP = "provenance.json"
PAGE = "index.html"
SITE = "index.json"
CATALOG_JSONLD = "catalog.jsonld"
CATALOG_TTL = "catalog.ttl"
FORMATS = ("csv", "json", "parquet")
ACCRUAL = {"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
           "yearly": "ANNUAL"}


def version_name(moment: datetime) -> str:
    """A version is named by its UTC publication time, ISO 8601 basic format."""
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def version_prefix(dataset_id: str, version: str) -> str:
    return f"{dataset_id}/{version}/"


def data_file(dataset_id: str, fmt: str) -> str:
    return f"{dataset_id}.{fmt}"


def absolute(public_url: str, key: str) -> str:
    """The public, absolute URL of a key of the open-data location."""
    return public_url.rstrip("/") + "/" + key


def dumps(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _resource(contract: Contract, fmt: str, entry: dict, schema: dict) -> dict:
    name = contract.id.replace("_", "-")
    out = {"name": f"{name}-{fmt}", "path": data_file(contract.id, fmt),
           "profile": "tabular-data-resource", "format": fmt, "mediatype": MEDIA_TYPES[fmt]}
    if fmt == "csv":  # frictionless checks these while it reads the CSV (not JSON or Parquet,
        # whose checksums are in jinshu.provenance.files, as in provenance.json)
        out.update({"encoding": "utf-8", "hash": f"sha256:{entry['sha256']}", "bytes": entry["bytes"]})
    elif fmt == "json":
        out["encoding"] = "utf-8"
    out["schema"] = schema
    return out


def datapackage(contract: Contract, product: Product, stamp: dict, public_url: str) -> dict:
    """The Frictionless data package of one version (Data Package v1 keys, Chinese first)."""
    version = stamp["version"]
    home = absolute(public_url, f"{contract.id}/{PAGE}")
    licence = LICENCES[contract.open.licence]
    schema = {"fields": product.fields}
    if product.primary_key:
        schema["primaryKey"] = product.primary_key
    files = stamp["files"]
    disclosure: Disclosure = product.disclosure
    return {
        "profile": "tabular-data-package",
        "id": absolute(public_url, f"{version_prefix(contract.id, version)}{PACKAGE}"),
        "name": contract.id.replace("_", "-"),
        "title": contract.title,
        "description": contract.description,
        "version": version,
        "created": stamp["acquired_at"],  # the data as of: its newest source batch
        "homepage": home,
        "licenses": [{"name": licence.name, "title": licence.title, "path": licence.path}],
        "sources": [{"title": f"{contract.department.name}《{contract.title}》",
                     "path": f"{home}#source"}],
        "contributors": [
            {"title": contract.department.name, "role": "author",
             "organization": contract.department.name},
            {"title": f"{PUBLISHER} ({PUBLISHER_EN})", "role": "publisher",
             "path": absolute(public_url, PAGE)},
        ],
        "keywords": list(dict.fromkeys([*(["民生"] if contract.open.livelihood else []),
                                        *contract.open.keywords])),
        "jinshu": {
            "provenance": stamp,
            "rows": len(product.rows),
            "suppressed_rows": disclosure.suppressed_records,
            "k_anonymity": disclosure.k_achieved,
            "anonymization": disclosure.as_json(),
            "update_cycle": contract.update_cycle,
            "accrual_periodicity": ACCRUAL[contract.update_cycle],
            "livelihood": contract.open.livelihood,
            "already_disclosed": contract.open.already_disclosed,
            "theme": THEMES[contract.open.theme].code,
            "department_code": contract.department.code,
            "published_at": stamp["published_at"],
        },
        "resources": [_resource(contract, fmt, files[data_file(contract.id, fmt)], schema)
                      for fmt in FORMATS],
    }


def pointer(contract: Contract, version: str, versions: list[str], published_at: datetime,
            public_url: str) -> dict:
    """``latest.json``: the current version and every kept version, newest first."""
    return {"dataset": contract.id, "version": version,
            "path": version_prefix(contract.id, version), "versions": versions,
            "published_at": published_at.astimezone(UTC).isoformat(), "public_url": public_url,
            "livelihood": contract.open.livelihood}
