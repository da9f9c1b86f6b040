"""Shared fixtures: one migrated Airflow DB, a real PostgreSQL, a real S3 API.

PostgreSQL is required: when it cannot be reached the suite fails, it does
not skip. Set ``JINSHU_TEST_PG_URL`` to point elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Airflow reads its settings at import: fix them before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".jinshu" / "test-airflow"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import psycopg  # noqa: E402
import pytest  # noqa: E402

from jinshu.catalog import Contract, load_catalog  # noqa: E402
from jinshu.settings import DEFAULT_CATALOG_DIR, Settings  # noqa: E402
from tests.helpers import fresh_buckets, fresh_database, make_settings  # noqa: E402

PG_URL = os.environ.get("JINSHU_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config: pytest.Config) -> None:
    """Migrate the shared Airflow DB once, in the controller, before workers start."""
    if hasattr(config, "workerinput") or config.option.markexpr == "distributed":
        return  # the native stack migrates its own metadata DB
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each ``xdist_group`` on one worker under ``--dist loadgroup``.

    pytest-xdist 3.8 marks a test's group by appending ``@<group>`` to ``item._nodeid``, which
    pytest 9 no longer reads (a node's id lives in ``_id``): every group was split across the
    workers, so the Airflow tests shared the metadata DB from two processes and the end-to-end
    flow ran twice per set-up. Set the suffix where pytest 9 keeps it.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = coerce_node_id(f"{item.nodeid}@{mark.args[0]}")


def pytest_terminal_summary(terminalreporter) -> None:
    """Figures tests record with ``record_property("figure", text)``, printed after the run
    (also under xdist, whose workers' own output is not shown)."""
    figures = [value for report in terminalreporter.stats.get("passed", [])
               for name, value in report.user_properties if name == "figure"]
    if figures:
        terminalreporter.section("figures")
        for figure in figures:
            terminalreporter.write_line(figure)


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    return load_catalog(DEFAULT_CATALOG_DIR)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server the tests use; fails loudly when it is not there."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {PG_URL} is required for the tests: {error}", pytrace=False)
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server over HTTP on loopback, as MinIO is in production."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_buckets(s3_endpoint: str) -> dict[str, str]:
    """Fresh landing, open-data and quality buckets; returns their s3:// URLs."""
    return fresh_buckets(s3_endpoint)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Embedded defaults, with the central store on SQLite or on PostgreSQL."""
    store = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    return make_settings(tmp_path / "home", store_url=store)
