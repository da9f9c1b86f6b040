"""The processes of docker-compose.yaml, run natively, with the settings of .env.example
(:mod:`tests.distributed.native_env`).

:class:`Stack` starts, against the local PostgreSQL, fresh databases (Airflow
metadata and central store apart), its own redis-server (the broker: a test
stops it without touching the machine's Redis) and moto's S3 server with the
four buckets; then the api-server, scheduler, dag-processor, triggerer and
Celery workers, each worker with its own ``JINSHU_HOME`` and ``AIRFLOW_HOME``
(they share no folder) and its own host name. Every process starts a session
of its own (:mod:`tests.distributed.processes`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests.distributed.native_env import (
    PG_SERVER,
    REPO,
    Addresses,
    airflow_env,
    bucket_names,
    settings_with_secrets,
)
from tests.distributed.processes import Service, alive_members, signal_session, wait_until

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """The services, their settings and a REST client; :meth:`close` stops all it started."""

    root: Path
    workers: int = 2
    values: dict[str, str] = field(default_factory=settings_with_secrets)
    services: dict[str, Service] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    where: Addresses | None = None
    token: str = ""

    # -- start --

    def start(self) -> Stack:
        suffix = uuid.uuid4().hex[:8]
        self.where = Addresses(f"jinshu_dist_{suffix}_airflow", f"jinshu_dist_{suffix}_store",
                               free_port(), free_port(), "")
        for name in (self.where.airflow_db, self.where.store_db):
            with psycopg.connect(PG_SERVER, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.databases.append(name)
        self._start_s3()
        self.start_broker()
        self._migrate()
        self._start_airflow()
        return self

    def _start_s3(self) -> None:
        port = free_port()
        self.where.s3_endpoint = f"http://127.0.0.1:{port}"
        self.add("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                 dict(os.environ)).start()
        wait_until(lambda: httpx.get(self.where.s3_endpoint, timeout=2).status_code < 500, 60,
                   "moto's S3 server", every=0.3)
        client = self.s3()
        for bucket in bucket_names(self.values):
            client.create_bucket(Bucket=bucket)

    def start_broker(self) -> None:
        """The broker: a redis-server of the harness's own (nothing kept on disk)."""
        broker = self.services.get("broker") or self.add("broker", [
            "redis-server", "--port", str(self.where.broker_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.root)], dict(os.environ))
        since = broker.log.stat().st_size if broker.log.exists() else 0
        broker.start()
        broker.wait_for_line("Ready to accept connections", 30, since=since)

    def env_for(self, name: str, host: str) -> dict[str, str]:
        """The settings of one native process (``host``: its folders and host name)."""
        home = self.root / host
        env = airflow_env(self.values, self.where)
        env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO),  # the host name callable, below
            "HOME": str(home), "AIRFLOW_HOME": str(home / "airflow"),
            "JINSHU_HOME": str(home / "jinshu"), "JINSHU_TEST_HOST": host,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.hosts.hostname",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.where.api_port),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),  # one per process here
        })
        for key in ("LANG", "LC_ALL", "TZ", "TMPDIR"):
            if key in os.environ:
                env[key] = os.environ[key]
        return env

    def add(self, name: str, argv: list[str], env: dict[str, str]) -> Service:
        self.services[name] = Service(name, argv, env, self.root / "logs" / f"{name}.log")
        return self.services[name]

    def _migrate(self) -> None:
        env = self.env_for("migrate", "control")
        done = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")

    def _airflow(self, name: str, *command: str, host: str = "control") -> Service:
        return self.add(name, [str(BIN / "airflow"), *command], self.env_for(name, host))

    def _start_airflow(self) -> None:
        self._airflow("api-server", "api-server").start()
        for name in ("scheduler", "dag-processor", "triggerer"):
            self._airflow(name, name).start()
        wait_until(lambda: httpx.get(f"{self.api}/api/v2/monitor/health", timeout=5)
                   .status_code == 200, 240, "the api-server", every=1)
        for index in range(self.workers):
            self.add_worker(f"worker-{'abcdefgh'[index]}").start()
        self.token = self._login()
        for service in self.services.values():
            if service.name.startswith("worker-"):
                service.wait_for_line(" ready.", 240)

    def add_worker(self, host: str) -> Service:
        return self._airflow(host, "celery", "worker", "--celery-hostname", f"{host}@%h", host=host)

    # -- REST API v2 (a JWT from the SimpleAuthManager) --

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.where.api_port}"

    def _login(self) -> str:
        passwords = self.root / "passwords.json"
        wait_until(passwords.exists, 60, "the SimpleAuthManager's passwords file")
        password = json.loads(passwords.read_text())["admin"]
        response = httpx.post(f"{self.api}/auth/token", json={"username": "admin",
                                                               "password": password}, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = httpx.request(method, f"{self.api}/api/v2{path}", timeout=60,
                                 headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}

    def dag_ids(self) -> list[str]:
        return sorted(d["dag_id"] for d in self.call("GET", "/dags", params={"limit": 100})["dags"])

    def wait_for_dags(self, expected: list[str]) -> None:
        """Until the dag-processor has parsed every expected DAG."""
        wait_until(lambda: set(expected) <= set(self.dag_ids()), 300, "every DAG parsed", every=2)

    def paused(self) -> set[str]:
        dags = self.call("GET", "/dags", params={"limit": 100, "paused": True})["dags"]
        return {d["dag_id"] for d in dags}

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]

    def runs(self, **params) -> list[dict]:
        return self.call("GET", "/dags/~/dagRuns", params={"limit": 1000, **params})["dag_runs"]

    def task_instances(self, **params) -> list[dict]:
        return self.call("GET", "/dags/~/dagRuns/~/taskInstances",
                         params={"limit": 1000, **params})["task_instances"]

    def waiting_asset_events(self, dag_id: str) -> int:
        return len(self.call("GET", f"/dags/{dag_id}/assets/queuedEvents")["queued_events"])

    # -- the central store, buckets and metadata DB --

    @property
    def metadata_url(self) -> str:
        return f"{PG_SERVER.rsplit('/', 1)[0]}/{self.where.airflow_db}"

    def s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.where.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id="harness", aws_secret_access_key="harness")

    def reset_data(self) -> None:
        """An empty central store and empty buckets (same keys: pseudonyms stay comparable)."""
        store = f"{PG_SERVER.rsplit('/', 1)[0]}/{self.where.store_db}"
        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        client = self.s3()
        for bucket in bucket_names(self.values):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=obj["Key"])

    # -- stop --

    def close(self) -> None:
        """Stop every process started, by its session (SIGTERM, then SIGKILL); drop the databases."""
        sessions = [s.pid for s in self.services.values() if s.popen is not None]
        for sid in sessions:
            signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alive_members(sessions):
            time.sleep(0.3)
        for service in self.services.values():
            with suppress(Exception):
                service.kill()
        for name in self.databases:
            with suppress(psycopg.Error), psycopg.connect(PG_SERVER, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.tail(lines)}" for s in self.services.values())
