"""Benchmark of the exchange API (``make bench-exchange``): wrk on loopback, 1,000-row pages at
random cursors from a 1,000,000-row dataset, 50 connections, the audit write included; beside it,
in the same run, a bare endpoint (bench/exchange_bare.py: FastAPI + psycopg pool + the same keyset
SQL + orjson, nothing else).

1. (Re)creates the database ``jinshu_bench_exchange`` on ``$JINSHU_BENCH_PG_URL`` (default the
   local server), ingests a generated 1,000,000-row extract of the dataset (default
   ``enterprise_registration``, shared unconditionally) through every ingest stage, and publishes
   it to the exchange (the version the API serves).
2. Issues a principal, seals ``CURSORS`` cursors at random keys (as the API hands them out).
3. Starts the real API (``jinshu.share.api``) and the bare one, each one uvicorn process, and runs
   wrk against each in turn (``--rounds`` times, alternating), then checks that every request
   the real API answered was recorded in ``exchange_access``.

Targets on a 2-core machine: the real API serves at least 80 % of the bare endpoint's requests/s
with p99 latency at most 1.25x the bare one's. The figures go to stdout and bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import Request, urlopen

import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "jinshu_bench_exchange"
CURSORS = 5000
LUA = """
local cursors = {}
for line in io.lines(os.getenv("WRK_CURSORS")) do cursors[#cursors + 1] = line end
local path, token = os.getenv("WRK_PATH"), os.getenv("WRK_TOKEN")
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local seeded = false
request = function()
  if not seeded then math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)); seeded = true end
  return wrk.format("GET", path .. "?limit=1000&cursor=" .. cursors[math.random(#cursors)])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{DATABASE}"


def load(home: Path, store_url: str, dataset: str, rows: int):
    """Ingest ``rows`` generated records through every stage, then publish to the exchange."""
    from ingest_bench import provision_keys  # beside this script

    from jinshu import pipeline
    from jinshu.catalog import load_catalog
    from jinshu.dev.generate import generate_extract
    from jinshu.govern import audit
    from jinshu.protect import keys
    from jinshu.settings import Settings
    from jinshu.share import exchange
    from jinshu.store.engine import engine_for
    from jinshu.store.objects import open_store
    from jinshu.store.schema import ensure_schema

    home.mkdir(parents=True, exist_ok=True)
    provision_keys(home)  # outside the embedded SQLite store jinshu never makes a key
    settings = Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url})
    audit.use_settings(settings)
    contracts = load_catalog(settings.catalog_dir)
    contract = contracts[dataset]
    engine = engine_for(store_url)
    ensure_schema(engine, contracts)
    start = time.perf_counter()
    name, data = generate_extract(contract, rows, seed=7)
    open_store(settings.landing_url).write(contract.landing_prefix + name, data)
    pipeline.run(settings, contracts, contract)
    exchange.publish(engine, contract, datetime.now(UTC), keys.protector(settings))
    with engine.connect() as conn:
        stored = conn.execute(sa.text(f'SELECT count(*) FROM "{contract.table}"')).scalar()
    print(f"loaded {stored:,} rows of {dataset} and published them in {time.perf_counter() - start:.0f} s",
          flush=True)
    return settings, contracts, contract, engine


def cursors(settings, contract, engine, department: str, out: Path) -> tuple[Path, Path]:
    """Sealed cursors for the real API and plain keys for the bare one, at the same random keys."""
    from urllib.parse import quote

    from jinshu.protect import keys, policy
    from jinshu.share.cursor import Cursors, cursor_key

    [key] = policy.key_columns(contract)
    with engine.connect() as conn:
        sample = conn.execute(sa.text(f'SELECT "{key}" FROM "{contract.table}" TABLESAMPLE BERNOULLI (2)')
                              ).scalars().all()
    picked = random.Random(7).sample(sample, min(CURSORS, len(sample)))
    sealer = Cursors(cursor_key(keys.pseudonym_key(settings)))
    real, bare = out / "real.txt", out / "bare.txt"
    real.write_text("\n".join(sealer.seal((k,), contract.id, department) for k in picked) + "\n")
    bare.write_text("\n".join(quote(k) for k in picked) + "\n")
    return real, bare


def serve(app: str, port: int, env: dict[str, str], factory: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log", *(["--factory"] if factory else [])]
    process = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT / "bench")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{app} did not start on port {port}")


def warm(url: str, token: str | None) -> int:
    request = Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urlopen(request, timeout=30) as response:
        return len(json.loads(response.read())["rows"])


def wrk(url_base: str, path: str, cursor_file: Path, token: str, seconds: int, script: Path) -> dict:
    env = {**os.environ, "WRK_CURSORS": str(cursor_file), "WRK_PATH": path, "WRK_TOKEN": token}
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", "-s", str(script),
                          url_base], env=env, capture_output=True, text=True, check=True).stdout
    return parse(out)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse(out: str) -> dict:
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
            "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
            "requests": requests, "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": "Socket errors" in out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dataset", default="enterprise_registration")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database of a previous run")
    args = parser.parse_args(argv)
    admin = os.environ.get("JINSHU_BENCH_PG_URL", DEFAULT_PG_URL)
    home = ROOT / ".jinshu" / "bench-exchange"
    store_url = f"{admin.rsplit('/', 1)[0]}/{DATABASE}" if args.reuse else recreate(admin)
    if not args.reuse:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    settings, _, contract, engine = load(home, store_url, args.dataset, args.rows) if not args.reuse \
        else _reload(home, store_url, args.dataset)
    from jinshu.protect import policy
    from jinshu.share import principals

    department = "sx_renshe"
    token = principals.issue(engine, "bench", department, "department", 1, "bench", datetime.now(UTC)).token
    work = Path(tempfile.mkdtemp(prefix="jinshu-bench-exchange-"))
    real_cursors, bare_cursors = cursors(settings, contract, engine, department, work)
    script = work / "random_cursor.lua"
    script.write_text(LUA)
    [key] = policy.key_columns(contract)
    env = {"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url}
    bare_env = {"BARE_PG_URL": store_url.replace("+psycopg", ""), "BARE_TABLE": contract.table,
                "BARE_KEY": key, "BARE_COLUMNS": ",".join([*contract.field_names, "_subject_key"])}
    real_port, bare_port = free_port(), free_port()
    real_path = f"/v1/datasets/{contract.id}/records"
    servers = [serve("jinshu.share.api:create_app", real_port, env, factory=True),
               serve("exchange_bare:app", bare_port, bare_env)]
    try:
        assert warm(f"http://127.0.0.1:{real_port}{real_path}?limit=1000", token) == 1000
        assert warm(f"http://127.0.0.1:{bare_port}/bare/records?limit=1000", None) == 1000
        with engine.connect() as conn:
            last_id = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM exchange_access")).scalar()
        results = {"real": [], "bare": []}
        for _ in range(args.rounds):
            results["bare"].append(wrk(f"http://127.0.0.1:{bare_port}", "/bare/records", bare_cursors,
                                       "", args.seconds, script))
            results["real"].append(wrk(f"http://127.0.0.1:{real_port}", real_path, real_cursors,
                                       token, args.seconds, script))
        with engine.connect() as conn:
            recorded, flushes = conn.execute(sa.text(
                "SELECT count(*), count(DISTINCT audit_seq) FROM exchange_access WHERE id > :last"),
                {"last": last_id}).one()
    finally:
        for process in servers:
            process.terminate()
            process.wait(30)
    report(results, recorded, flushes, args, os.getloadavg())
    return 0


def _reload(home: Path, store_url: str, dataset: str):
    from jinshu.catalog import load_catalog
    from jinshu.settings import Settings
    from jinshu.store.engine import engine_for

    settings = Settings.from_env({"JINSHU_HOME": str(home), "JINSHU_STORE_URL": store_url})
    contracts = load_catalog(settings.catalog_dir)
    return settings, contracts, contracts[dataset], engine_for(store_url)


def report(results: dict, recorded: int, flushes: int, args, load_before: tuple) -> None:
    def best(side: str) -> dict:  # the round with the highest throughput, per side
        return max(results[side], key=lambda r: r["requests_per_s"])

    real, bare = best("real"), best("bare")
    served = sum(r["requests"] - r["non_2xx"] for r in results["real"])
    ratio, p99 = real["requests_per_s"] / bare["requests_per_s"], real["p99_ms"] / bare["p99_ms"]
    lines = [f"exchange benchmark: {args.rows:,} rows of {args.dataset}, 1,000-row pages at random "
             f"cursors, wrk -t2 -c50 -d{args.seconds}s, {args.rounds} rounds alternating "
             f"(best round per side); load average before: {load_before[0]:.1f}"]
    for side in ("bare", "real"):
        for i, r in enumerate(results[side], 1):
            lines.append(f"  {side} round {i}: {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms"
                         f"  p99 {r['p99_ms']:7.1f} ms  non-2xx {r['non_2xx']}")
    lines += [f"real / bare requests/s: {ratio:.2f} (target >= 0.80): {'met' if ratio >= 0.8 else 'NOT met'}",
              f"real / bare p99:        {p99:.2f} (target <= 1.25): {'met' if p99 <= 1.25 else 'NOT met'}",
              f"audit: {recorded:,} access records for {served:,} answered requests, in {flushes:,} "
              f"group commits ({'every answer recorded' if recorded >= served else 'MISSING RECORDS'})"]
    print("\n".join(lines))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "exchange_bench.json").write_text(json.dumps(
        {"results": results, "ratio_requests": ratio, "ratio_p99": p99, "recorded": recorded,
         "served": served, "flushes": flushes, "load_before": load_before}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
