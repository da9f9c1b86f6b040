"""One Airflow api-server with the jinshu plugin over the demo's data, and one headless Chromium
with every request outside the machine blocked.

The demo (``jinshu demo``, its DAGs through ``dag.test()`` on the suite's shared Airflow DB)
and the api-server (on a copy of that migrated DB, so the two never write one SQLite file)
start together; the browser is Debian's Chromium driven by playwright.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from jinshu.settings import Settings
from jinshu.store.engine import engine_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
USERS = {"admin": "admin", "sx_minzheng": "user", "sx_gongan": "viewer"}  # Airflow user -> role
DEMO_ROWS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the api-server exited ({process.returncode}); its log: {log}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"the api-server did not answer {url} within {seconds:.0f} s; its log: {log}", pytrace=False)


@dataclass
class Airflow:
    base: str
    settings: Settings
    passwords: dict[str, str]
    engine: sa.Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = engine_for(self.settings.store_url)

    def token(self, user: str) -> str:
        """A JWT from Airflow's own login endpoint (what the login page posts to)."""
        body = json.dumps({"username": user, "password": self.passwords[user]}).encode()
        request = urllib.request.Request(f"{self.base}/auth/token", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]


@pytest.fixture(scope="package")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    work = tmp_path_factory.mktemp("ui")
    home, af_home = work / "jinshu", work / "airflow"
    af_home.mkdir()
    shutil.copyfile(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db", af_home / "airflow.db")
    passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in USERS}
    (af_home / "passwords.json").write_text(json.dumps(passwords))
    port = _free_port()
    env = {**os.environ, "JINSHU_HOME": str(home)}
    env.pop("JINSHU_STORE_URL", None)
    server_env = {
        **env, "AIRFLOW_HOME": str(af_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{af_home / 'airflow.db'}",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(af_home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
    }
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    server_log = (work / "api-server.log").open("wb")
    server = subprocess.Popen([airflow_bin, "api-server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], env=server_env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        demo = subprocess.run([str(Path(sys.executable).with_name("jinshu")), "demo", "--rows",
                               str(DEMO_ROWS)], env=env, capture_output=True, text=True, timeout=600)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        _wait(f"http://127.0.0.1:{port}/api/v2/monitor/health", server, work / "api-server.log")
        yield Airflow(f"http://127.0.0.1:{port}", Settings.from_env(env), passwords)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()


@dataclass
class Traffic:
    """What the pages asked for: requests that failed, and requests that tried to leave."""

    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.failed.clear()
        self.blocked.clear()


@pytest.fixture(scope="package")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_session(browser, airflow: Airflow, user: str | None):
    """A browser context logged in as ``user`` (or anonymous), offline: anything not on
    127.0.0.1 is aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    traffic = Traffic()

    def route(route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            traffic.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    context.on("requestfailed", lambda r: traffic.failed.append(f"{r.url} {r.failure}"))
    context.on("response", lambda r: traffic.failed.append(f"{r.url} {r.status}")
               if r.status >= 400 else None)
    if user:
        context.add_cookies([{"name": "_token", "value": airflow.token(user), "url": airflow.base}])
    return context, traffic
