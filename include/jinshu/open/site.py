"""The open-data location as a site: version pointers, the pages and the DCAT-AP catalog.

Everything here is rebuilt from what is published (each dataset's ``latest.json`` and the
data packages of its kept versions), so the publisher, an incident's withdrawal and the
catalog task all leave the same pages behind. Layout: :mod:`jinshu.open.package`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from jinshu.open import catalog, pages
from jinshu.open.package import LATEST, PACKAGE, PAGE, SITE, dumps, version_prefix
from jinshu.store.objects import ObjectStore


def read_json(store: ObjectStore, key: str) -> dict | None:
    try:
        return json.loads(store.read(key))
    except FileNotFoundError:
        return None


def pointer(store: ObjectStore, dataset_id: str) -> dict | None:
    """The dataset's ``latest.json``, or None when nothing of it is published."""
    return read_json(store, f"{dataset_id}/{LATEST}")


def packages(store: ObjectStore, latest: dict) -> list[dict]:
    """The data packages of the kept versions a pointer names, newest first."""
    found = (read_json(store, version_prefix(latest["dataset"], v) + PACKAGE) for v in latest["versions"])
    return [p for p in found if p is not None]


def version_folders(store: ObjectStore, dataset_id: str) -> dict[str, list[str]]:
    """Version name -> keys of the files under ``<dataset>/<version>/`` (complete or not)."""
    out: dict[str, list[str]] = {}
    for obj in store.list(f"{dataset_id}/"):
        parts = obj.key.split("/")
        if len(parts) == 3:
            out.setdefault(parts[1], []).append(obj.key)
    return out


def delete_versions(store: ObjectStore, dataset_id: str, keep: Iterable[str]) -> int:
    """Delete every version folder of the dataset not in ``keep`` (stale, withdrawn or left
    half-written by an interrupted publication); returns the files removed."""
    kept, removed = set(keep), 0
    for version, keys in version_folders(store, dataset_id).items():
        if version not in kept:
            for key in keys:
                store.delete(key)
            removed += len(keys)
    return removed


def write_dataset_page(store: ObjectStore, dataset_id: str, now: datetime) -> bool:
    """``<dataset>/index.html`` from its pointer; removed when nothing is published."""
    latest = pointer(store, dataset_id)
    found = packages(store, latest) if latest else []
    if not found:
        store.delete(f"{dataset_id}/{PAGE}")
        return False
    store.write(f"{dataset_id}/{PAGE}", pages.dataset_page(found, now).encode("utf-8"))
    return True


def listed(store: ObjectStore) -> list[str]:
    """The datasets the catalog listed last time (from ``index.json``)."""
    site = read_json(store, SITE)
    return [d["id"] for d in site["datasets"]] if site else []


def public_url_of(store: ObjectStore) -> str | None:
    site = read_json(store, SITE)
    return site["public_url"] if site else None


def write_catalog(store: ObjectStore, dataset_ids: Iterable[str], public_url: str,
                  now: datetime) -> list[str]:
    """``catalog.jsonld``, ``catalog.ttl``, ``index.html`` and ``index.json`` for the datasets
    among ``dataset_ids`` that have a current version, livelihood datasets first; returns them."""
    entries = []
    for dataset_id in dict.fromkeys(dataset_ids):
        latest = pointer(store, dataset_id)
        found = packages(store, latest) if latest else []
        if found:
            entries.append((latest, found))
    entries.sort(key=lambda e: (not e[0].get("livelihood", False), e[0]["dataset"]))
    graph = catalog.build(public_url, entries, now)
    for name, data in catalog.serialize(graph).items():
        store.write(name, data)
    store.write(PAGE, pages.catalog_page([found[0] for _, found in entries], now).encode("utf-8"))
    store.write(SITE, dumps({
        "public_url": public_url, "generated_at": now.isoformat(),
        "datasets": [{"id": p["dataset"], "version": p["version"], "livelihood": p.get("livelihood", False),
                      "latest": f"{p['dataset']}/{LATEST}"} for p, _ in entries]}))
    return [p["dataset"] for p, _ in entries]


def refresh(store: ObjectStore, dataset_id: str, now: datetime) -> None:
    """After a dataset's pointer changed outside a publish run (an incident's withdrawal):
    its page, then the catalog with what it listed (at the public URL it was written for)."""
    write_dataset_page(store, dataset_id, now)
    public_url = public_url_of(store)
    if public_url is not None:
        write_catalog(store, listed(store), public_url, now)
