"""A running exchange: uvicorn on a free port, on a fresh PostgreSQL store with sample data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from jinshu.catalog import Contract
from jinshu.dev.generate import generate_extract, generate_frame, render_extract
from jinshu.protect import keys
from jinshu.settings import Settings
from jinshu.share import exchange, principals
from jinshu.share.service import Exchange
from jinshu.store.engine import engine_for
from jinshu.store.schema import ensure_schema
from tests.helpers import ingest_file, make_settings, serving

NOW = datetime.now(UTC)
PEOPLE = 24
DEVELOPER_USCC = "91140105MA0K1B2C1E"  # the developer token's organization


@dataclass
class Server:
    url: str
    settings: Settings
    contracts: dict[str, Contract]
    tokens: dict[str, str]
    ids: list[str]  # household registration ID numbers (test data)
    service: Exchange

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def pg_module_url(pg_server: str) -> Iterator[str]:
    name = f"jinshu_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{pg_server.rsplit('/', 1)[0]}/{name}"
    yield url
    engine_for(url).dispose()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_sample(settings: Settings, contracts: dict[str, Contract]) -> list[str]:
    household = contracts["household_registration"]
    people = generate_frame(household, PEOPLE, seed=11)
    ingest_file(settings, contracts, household, "h.csv", render_extract(household, people, seed=11)[1])
    allowance = contracts["minimum_living_allowance"]
    frame = generate_frame(allowance, PEOPLE // 2, seed=12, ids=people["id_number"].iloc[:PEOPLE // 2])
    ingest_file(settings, contracts, allowance, "a.csv", render_extract(allowance, frame, seed=12)[1])
    for dataset in ("enterprise_registration", "vaccination_sites"):
        name, data = generate_extract(contracts[dataset], 15, seed=13)
        ingest_file(settings, contracts, contracts[dataset], name, data)
    engine, protector = engine_for(settings.store_url), keys.protector(settings)
    for dataset in ("household_registration", "minimum_living_allowance", "enterprise_registration",
                    "vaccination_sites"):
        exchange.publish(engine, contracts[dataset], NOW, protector)
    return people["id_number"].tolist()


def issue_tokens(settings: Settings) -> dict[str, str]:
    engine = engine_for(settings.store_url)
    tokens = {}
    for who, dept, kind in [("renshe", "sx_renshe", "department"), ("minzheng", "sx_minzheng", "department"),
                            ("gongan", "sx_gongan", "department"), ("scjg", "sx_scjg", "department"),
                            ("developer", "sx_renshe", "developer"), ("revoked", "sx_renshe", "department")]:
        tokens[who] = principals.issue(engine, who, dept, kind, 30, "test", NOW,
                                       uscc=DEVELOPER_USCC if kind == "developer" else None).token
    tokens["expired"] = principals.issue(engine, "old", "sx_renshe", "department", 1, "test",
                                         NOW - timedelta(days=3)).token
    principals.revoke(engine, tokens["revoked"].split(".")[0], "test", NOW)
    return tokens


@pytest.fixture(scope="module")
def server(pg_module_url, tmp_path_factory, contracts) -> Iterator[Server]:
    settings = make_settings(tmp_path_factory.mktemp("exchange") / "home", store_url=pg_module_url)
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    ids = load_sample(settings, contracts)
    hidden = contracts["vaccination_sites"]
    secret = hidden.model_copy(update={"id": "secret_registry", "sharing": hidden.sharing.model_copy(
        update={"class_": "not_shared", "legal_basis": "某条例 第十条"})})
    served = {**contracts, "secret_registry": secret}
    service = Exchange(engine, served, keys.protector(settings), keys.pseudonym_key(settings))
    with serving(service) as url:
        yield Server(url, settings, served, issue_tokens(settings), ids, service)
