"""What stamping and authorizing cost per exchange page (``python bench/stamp_bench.py``).

In process, on the local PostgreSQL: ingests a generated ``enterprise_registration`` extract
(default 100,000 rows) into ``jinshu_bench_stamp``, publishes it to the exchange, then reads
1,000-row pages at random cursors through :class:`jinshu.share.service.Exchange.read_page`,
interleaving, page for page:

- **department, unstamped** (the baseline: ``stamp.stamp`` swapped for a constant, as the
  code was before extracts were stamped);
- **department, stamped** (provenance block and SHA-256 of the rows);
- **developer, stamped** (plus the authorization lookup and check);

and beside them the two pieces alone: ``stamp.stamp`` on those pages, and ``orjson.dumps`` of a
page body (what the API already does with every page). Medians and p90 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta

import exchange_bench  # beside this script
import orjson
import sqlalchemy as sa

DATABASE = "jinshu_bench_stamp"
USCC = "91140105MA0K1B2C1E"


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[len(ordered) * 9 // 10]
    return f"{statistics.median(ordered) * 1000:6.2f} ms median, p90 {p90 * 1000:6.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=300, help="pages per variant")
    args = parser.parse_args(argv)
    exchange_bench.DATABASE = DATABASE
    admin = os.environ.get("JINSHU_BENCH_PG_URL", exchange_bench.DEFAULT_PG_URL)
    home = exchange_bench.ROOT / ".jinshu" / "bench-stamp"
    shutil.rmtree(home, ignore_errors=True)  # its keys go with the database recreated below
    settings, contracts, contract, engine = exchange_bench.load(
        home, exchange_bench.recreate(admin), "enterprise_registration", args.rows)

    from jinshu.protect import keys, policy
    from jinshu.share import development, principals, stamp
    from jinshu.share.service import Exchange

    now = datetime.now(UTC)
    department = principals.issue(engine, "bench", "sx_renshe", "department", 1, "bench", now).token
    developer = principals.issue(engine, "bench-dev", "sx_renshe", "developer", 1, "bench", now,
                                 uscc=USCC).token
    held = development.register(engine, contracts, organization="晋数科技有限公司", uscc=USCC,
                                datasets=[contract.id], purpose="基准测试",
                                expires_on=(now + timedelta(30)).date(),
                                actor="bench", now=now, agreement_no="协-1", agreement_on=now.date())
    development.file(engine, held, "备-1", now.date(), "bench", now)
    service = Exchange(engine, contracts, keys.protector(settings), keys.pseudonym_key(settings))
    [key] = policy.key_columns(contract)
    with engine.connect() as conn:
        sample = conn.execute(sa.text(f'SELECT "{key}" FROM "{contract.table}" TABLESAMPLE BERNOULLI (5)')
                              ).scalars().all()
    starts = random.Random(7).sample(sample, min(args.pages, len(sample)))

    real_stamp = stamp.stamp
    unstamped = {"checksum": "", "authorization": None}
    times: dict[str, list[float]] = {k: [] for k in ("unstamped", "stamped", "developer", "stamp",
                                                      "orjson")}
    for start in starts:
        for variant, token in (("unstamped", department), ("stamped", department),
                               ("developer", developer)):
            consumer = "developer:" + USCC if variant == "developer" else "sx_renshe"
            cursor = service.cursors.seal((start,), contract.id, consumer)
            stamp.stamp = (lambda *a, **k: unstamped) if variant == "unstamped" else real_stamp
            begin = time.perf_counter()
            page, _ = service.read_page(token, contract.id, cursor, 1000, None, None)
            times[variant].append(time.perf_counter() - begin)
        stamp.stamp = real_stamp
        begin = time.perf_counter()
        real_stamp(contract, page.rows, version=page.version, acquired_at=now, published_at=now,
                   delivered_at=now, batches=["b"] * len(page.rows))
        times["stamp"].append(time.perf_counter() - begin)
        begin = time.perf_counter()
        orjson.dumps(page.body(), default=stamp._default)
        times["orjson"].append(time.perf_counter() - begin)
    rows = len(page.rows)
    print(f"stamp benchmark: {args.rows:,} rows of {contract.id}, {len(starts)} pages of up to "
          f"1,000 rows per variant (last page {rows} rows), in process; "
          f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, label in (("unstamped", "read_page, department, unstamped (baseline)"),
                        ("stamped", "read_page, department, stamped"),
                        ("developer", "read_page, developer, authorized and stamped"),
                        ("stamp", "stamp.stamp alone"),
                        ("orjson", "orjson.dumps of the page body (API, baseline)")):
        print(f"  {label:<48} {ms(times[name])}")
    engine.dispose()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:  # nothing to reuse: leave no database
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
