"""The demo: sample extracts for every contract, every DAG run once with ``dag.test()``.

Runs on the embedded defaults (SQLite, local folders under ``JINSHU_HOME``)
and prints what happened: one line per DAG run, the batch ledger, and where
the outputs are. The Airflow task logs go to ``$JINSHU_HOME/demo-logs``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from jinshu import generate, ledger
from jinshu.catalog import Contract, load_catalog
from jinshu.report import batch_table
from jinshu.settings import Settings
from jinshu.store import engine_for

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"

# (dataset, faults, header style): a clean drop per contract plus the faults a
# landing area really sees; each lands as its own file, so its own batch.
FAULTY_DROPS = [
    ("household_registration", {"bad_checksum", "duplicate_rows"}, "title"),
    ("social_insurance_enrollment", {"undeclared_column"}, "title"),
    ("minimum_living_allowance", {"gb18030", "ragged_rows"}, "title"),
    ("enterprise_registration", {"xlsx"}, "name"),
]


def drop_samples(settings: Settings, contracts: dict[str, Contract], rows: int) -> list[Path]:
    """Write the demo's extracts into the local landing folder."""
    landing = Path(settings.landing_url)
    paths = generate.write_sample_landing(landing, contracts, rows, seed=1)
    for seed, (dataset_id, faults, header) in enumerate(FAULTY_DROPS, start=2):
        contract = contracts[dataset_id]
        name, data = generate.generate_extract(contract, max(rows // 4, 10), seed=seed,
                                               faults=frozenset(faults), header=header)
        path = landing / contract.landing_prefix / name
        path.write_bytes(data)
        paths.append(path)
    again = paths[0].with_name("resent_" + paths[0].name)  # the same bytes dropped twice
    shutil.copyfile(paths[0], again)
    paths.append(again)
    return paths


@contextmanager
def _quiet(log_path: Path):
    """Send everything written to stdout/stderr (Airflow's task logs) to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)


def run_dags(dag_ids: list[str], log_dir: Path) -> dict[str, str]:
    """``dag.test()`` each DAG in order; returns the state of each run."""
    from airflow.models import DagBag

    with _quiet(log_dir / "dagbag.log"):
        bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise RuntimeError(f"DAGs failed to import: {bag.import_errors}")
    states = {}
    for dag_id in dag_ids:
        started = time.monotonic()
        with _quiet(log_dir / f"{dag_id}.log"):
            run = bag.dags[dag_id].test()
        states[dag_id] = str(run.state)
        print(f"  {dag_id:<40} {states[dag_id]:<8} {time.monotonic() - started:5.1f} s")
    return states


def main(rows: int = 200) -> int:
    settings = Settings.from_env()
    contracts = load_catalog(settings.catalog_dir)
    print(f"jinshu demo · home {settings.home}")
    files = drop_samples(settings, contracts, rows)
    print(f"dropped {len(files)} extracts ({rows} rows per clean file) into {settings.landing_url}")
    order = [f"ingest_{c}" for c in contracts] + ["publish_exchange", "publish_open_data"]
    print("running DAGs with dag.test():")
    states = run_dags(order, settings.home / "demo-logs")
    with engine_for(settings.store_url).connect() as conn:
        print("\nbatch ledger (rows in = stored + duplicates + quarantined):")
        print(batch_table(ledger.summary(conn)))
        exchange = conn.execute(sa.text(
            "SELECT dataset_id, rows FROM publications WHERE channel = 'exchange' ORDER BY id")).all()
    print("\noutputs:")
    print(f"  central store   {settings.store_url}")
    print(f"  exchange tables {', '.join(f'ex_{d} ({n} rows)' for d, n in exchange)}")
    print(f"  open data       {settings.open_data_url} (catalog.json, <dataset>/datapackage.json)")
    print(f"  task logs       {settings.home / 'demo-logs'}")
    failed = [d for d, s in states.items() if s != "success"]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
