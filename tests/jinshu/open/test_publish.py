"""Publication (SQLite and PostgreSQL, local folders and S3): versions, the ``latest`` pointer
written last, interrupted publications, livelihood first, the pages and the catalog."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from jinshu.open import package, publisher, site
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.tables import publications
from tests.helpers import make_settings
from tests.jinshu.open.conftest import PUBLIC_URL, T0, data_names, ingest, publish_all, version_files

SITES = "vaccination_sites"


class Interrupted(RuntimeError):
    pass


class FailingStore:
    """The open-data store, failing on the first write whose key matches ``fails_on``."""

    def __init__(self, store, fails_on: str) -> None:
        self.store, self.fails_on, self.url = store, fails_on, store.url

    def write(self, key: str, data: bytes) -> None:
        if self.fails_on in key:
            raise Interrupted(f"the store went away while writing {key}")
        self.store.write(key, data)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_each_publication_is_a_version_and_latest_is_the_pointer(settings, contracts):
    ingest(settings, contracts, SITES, "a.csv", seed=1)
    store = publish_all(settings, contracts)
    ingest(settings, contracts, SITES, "b.csv", seed=2)
    publish_all(settings, contracts, T0 + timedelta(hours=1), store)
    v1, v2 = package.version_name(T0), package.version_name(T0 + timedelta(hours=1))
    latest = site.pointer(store, SITES)
    assert (latest["version"], latest["versions"], latest["path"]) == (v2, [v2, v1], f"{SITES}/{v2}/")
    assert set(site.version_folders(store, SITES)) == {v1, v2}
    for version in (v1, v2):  # every version complete, and both downloadable
        names = {o.key.rsplit("/", 1)[1] for o in store.list(f"{SITES}/{version}/")}
        assert names == {*data_names(SITES), "datapackage.json", "provenance.json"}
    packaged = json.loads(version_files(store, SITES)["datapackage.json"])
    assert packaged["version"] == v2
    assert not [o.key for o in store.list(f"{SITES}/") if o.key.count("/") == 1
                and o.key.rsplit("/", 1)[1] not in ("latest.json", "index.html")]  # no root copy
    page = store.read(f"{SITES}/index.html").decode()
    assert v1 in page and v2 in page and "预防接种门诊及服务时间" in page
    with engine_for(settings.store_url).connect() as conn:
        locations = conn.execute(sa.select(publications.c.location).where(
            publications.c.dataset_id == SITES).order_by(publications.c.id)).scalars().all()
    assert locations == [f"{store.url}/{SITES}/{v1}/", f"{store.url}/{SITES}/{v2}/"]


@pytest.mark.parametrize("fails_on", ["datapackage.json", "latest.json"])
def test_an_interrupted_publication_leaves_latest_on_the_previous_complete_version(
        settings, contracts, fails_on):
    ingest(settings, contracts, SITES, "a.csv", seed=1)
    store = publish_all(settings, contracts)
    before = {key: store.read(key) for key in (f"{SITES}/latest.json", f"{SITES}/index.html",
                                               "catalog.jsonld", "index.html")}
    first = version_files(store, SITES)
    ingest(settings, contracts, SITES, "b.csv", seed=2)
    engine = engine_for(settings.store_url)
    later = T0 + timedelta(hours=1)
    with pytest.raises(Interrupted):
        publisher.publish(engine, FailingStore(store, fails_on), contracts[SITES], later,
                          public_url=PUBLIC_URL)
    assert {key: store.read(key) for key in before} == before
    assert version_files(store, SITES) == first
    with engine.connect() as conn:  # nothing recorded for the interrupted one
        assert conn.execute(sa.select(sa.func.count()).select_from(publications)
                            .where(publications.c.dataset_id == SITES)).scalar() == 1
    assert package.version_name(later) in site.version_folders(store, SITES)  # left half-written

    publisher.publish(engine, store, contracts[SITES], later + timedelta(minutes=5), public_url=PUBLIC_URL)
    assert set(site.version_folders(store, SITES)) == {package.version_name(T0),
                                                       package.version_name(later + timedelta(minutes=5))}
    assert version_files(store, SITES) != first


def test_versions_beyond_the_kept_number_are_removed(settings, contracts):
    engine, store = engine_for(settings.store_url), open_store(settings.open_data_url)
    times = [T0 + timedelta(hours=h) for h in range(4)]
    for seed, at in enumerate(times, start=1):
        ingest(settings, contracts, SITES, f"{seed}.csv", seed=seed)
        publisher.publish(engine, store, contracts[SITES], at, keep_versions=2, public_url=PUBLIC_URL)
    kept = [package.version_name(at) for at in reversed(times[2:])]
    assert site.pointer(store, SITES)["versions"] == kept
    assert set(site.version_folders(store, SITES)) == set(kept)


def test_livelihood_datasets_are_published_first(settings, contracts):
    order = [c.id for c in publisher.publication_order(list(contracts.values()))]
    livelihood = [c.id for c in contracts.values() if c.is_open and c.open.livelihood]
    assert livelihood and order[:len(livelihood)] == sorted(livelihood)
    assert set(order) == {c.id for c in contracts.values() if c.is_open}
    from jinshu import tasks

    assert tasks.open_datasets_in_order(livelihood=True) == sorted(livelihood)
    assert set(tasks.open_datasets_in_order(livelihood=False)) == set(order) - set(livelihood)


def test_the_catalog_page_lists_livelihood_datasets_first(settings, contracts, everything):
    listed = [d["id"] for d in json.loads(everything.read("index.json"))["datasets"]]
    livelihood = sorted(c.id for c in contracts.values() if c.is_open and c.open.livelihood)
    assert listed[:len(livelihood)] == livelihood
    page = everything.read("index.html").decode()
    positions = [page.index(f'href="{d}/index.html"') for d in listed]
    assert positions == sorted(positions)


def test_publication_to_s3_writes_the_same_layout(tmp_path, s3_endpoint, s3_buckets, contracts, pg_url):
    settings = make_settings(tmp_path / "home", store_url=pg_url, landing_url=s3_buckets["landing"],
                             open_data_url=s3_buckets["open-data"], s3_endpoint_url=s3_endpoint)
    ingest(settings, contracts, SITES, "a.csv", seed=1)
    ingest(settings, contracts, "minimum_living_allowance", "a.csv", seed=1, rows=60)
    store = publish_all(settings, contracts)
    assert store.url.startswith("s3://")
    keys = {o.key for o in store.list("")}
    assert {"index.html", "index.json", "catalog.jsonld", "catalog.ttl", f"{SITES}/latest.json",
            f"{SITES}/index.html"} <= keys
    files = version_files(store, SITES)
    assert set(files) == {*data_names(SITES), "datapackage.json", "provenance.json"}
    stamp = json.loads(files["provenance.json"])
    assert all(stamp["files"][n]["bytes"] == len(files[n]) for n in data_names(SITES))


def test_no_published_file_holds_a_planted_formula_or_a_raw_identifier(contracts, published):
    """Formulas planted in a department's free text, ID numbers in the store: none goes out."""
    import io

    import pandas as pd
    import pyarrow.parquet as pq

    from jinshu.protect import leakguard
    from jinshu.protect.cells import is_formula

    _, store = published
    planted = 0
    for contract in (c for c in contracts.values() if c.is_open):
        files = version_files(store, contract.id)
        for name, data in files.items():
            if name.endswith(".parquet"):
                frame = pq.read_table(io.BytesIO(data)).to_pandas()
            elif name.endswith(".csv"):
                frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                                    encoding="utf-8-sig")
            elif name == f"{contract.id}.json":
                frame = pd.DataFrame(json.loads(data))
            else:
                assert leakguard.scan(data.decode()) == [], name
                continue
            cells = [str(c) for c in frame.to_numpy().ravel()]
            assert not [c for c in cells if is_formula(c)], name
            planted += sum(c.startswith("'") and is_formula(c[1:]) for c in cells)
            assert leakguard.scan(" ".join(cells)) == [], name
    assert planted == 5 * 3  # the five planted formulas are there, neutralized, in every format
