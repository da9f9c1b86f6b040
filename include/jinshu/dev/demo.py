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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pandas as pd

from jinshu.catalog import Contract, load_catalog, load_concepts
from jinshu.dev import generate
from jinshu.govern import audit
from jinshu.govern.report import (
    batch_table,
    collection_report,
    query,
    render_collection,
    render_repeat,
    repeat_report,
)
from jinshu.protect import crypto
from jinshu.repeat import ledger
from jinshu.settings import DAGS_DIR, Settings
from jinshu.store.engine import engine_for

# (dataset, faults, header style): a clean drop per contract plus the faults a
# landing area really sees; each lands as its own file, so its own batch.
FAULTY_DROPS = [
    ("household_registration", {"bad_checksum", "duplicate_rows"}, "title"),
    ("social_insurance_enrollment", {"undeclared_column"}, "title"),
    ("minimum_living_allowance", {"gb18030", "ragged_rows"}, "title"),
    ("enterprise_registration", {"xlsx"}, "name"),
]
CONSENT_FIELDS = [("minimum_living_allowance", "phone"), ("social_insurance_enrollment", "email")]


# (requester, dataset, purpose, fields, what the owner does): the exchange's demo traffic.
EXCHANGE_REQUESTS = [
    ("sx_minzheng", "household_registration", "低保对象户籍资格核验", ["id_number", "name", "county_code"],
     "approve"),
    ("sx_renshe", "household_registration", "参保登记信息比对", ["name", "birth_date", "address"], "refuse"),
    ("sx_renshe", "minimum_living_allowance", "社会保险费减免资格核验", ["county_code", "allowance_yuan"],
     None),
]

REFUSAL = "申请字段超出核验所需的最少范围，请只申请姓名与出生日期"


def request_exchange(settings: Settings, contracts: dict[str, Contract]) -> list[int]:
    """Departments ask each other for data through the exchange (as its API does): one request
    approved, one refused with its reason, one left waiting for its owner. Returns their ids."""
    from datetime import UTC, datetime

    from jinshu.share import grants, principals
    from jinshu.share.decision import Caller

    engine, now = engine_for(settings.store_url), datetime.now(UTC)
    callers: dict[str, Caller] = {}

    def caller(department: str) -> Caller:
        if department not in callers:
            issued = principals.issue(engine, f"{department} demo", department, "department", 30,
                                      "jinshu-demo", now)
            callers[department] = Caller(issued.principal.id, department, "department")
        return callers[department]

    ids = []
    for requester, dataset_id, purpose, fields, outcome in EXCHANGE_REQUESTS:
        contract = contracts[dataset_id]
        fields = [f for f in fields if f in contract.field_names]
        row = grants.create(engine, contract, caller(requester), purpose, fields, 90, False, None, now,
                            settings.holidays)
        owner = caller(contract.department.code)
        if outcome == "approve":
            grants.approve(engine, row.id, owner, None, None, now)
        elif outcome == "refuse":
            grants.refuse(engine, row.id, owner, REFUSAL, now)
        ids.append(row.id)
    return ids


def _subjects(path: Path, contract: Contract) -> list[str]:
    """ID numbers of the subjects in a generated clean extract."""
    from jinshu.collect.conform import conform
    from jinshu.collect.read import read_extract

    conformed, _ = conform(read_extract(path.name, path.read_bytes()).frame, contract)
    return conformed[contract.subject_key].tolist()


def drop_consents(settings: Settings, contracts: dict[str, Contract], paths: list[Path],
                  withdrawals: bool) -> int:
    """Consent extracts: 60% granted, 20% refused, the rest never asked; or 5 withdrawals."""
    landing = Path(settings.landing_url)
    written = 0
    for dataset_id, field in CONSENT_FIELDS:
        contract = contracts[dataset_id]
        clean = next(p for p in paths if p.name == f"{dataset_id}_1.csv")
        ids = _subjects(clean, contract)
        granted, refused = int(len(ids) * 0.6), int(len(ids) * 0.2)
        if withdrawals:
            chosen, decisions = ids[:5], ["withdrawn"] * 5
            on, name = time.strftime("%Y-%m-%d"), "withdrawals.csv"
        else:
            chosen = ids[:granted + refused]
            decisions = ["granted"] * granted + ["refused"] * refused
            on, name = "2026-11-01", "decisions.csv"
        folder = landing / contract.department.code / "consent"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{dataset_id}_{name}").write_bytes(
            generate.consent_extract(chosen, dataset_id, field, decisions, on))
        written += 1
    return written


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


def drop_repeats(settings: Settings, contracts: dict[str, Contract], paths: list[Path],
                 rows: int) -> Path:
    """A social insurance extract of people already in the household registry (the registry
    is the authority for their names, sexes and birth dates), three names spelled otherwise:
    what the repeat_collection DAG finds and sends back."""
    household, social = contracts["household_registration"], contracts["social_insurance_enrollment"]
    clean = next(p for p in paths if p.name == f"{household.id}_1.csv")
    ids = pd.Series(_subjects(clean, household), dtype="str")
    frame = generate.generate_frame(social, max(rows // 4, 10), seed=9, ids=ids)
    frame.loc[:2, "name"] = frame.loc[:2, "name"] + "某"
    name, data = generate.render_extract(social, frame, seed=9)
    path = Path(settings.landing_url) / social.landing_prefix / f"registered_{name}"
    path.write_bytes(data)
    return path


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


def load_dags(log_dir: Path):
    from airflow.models import DagBag

    with _quiet(log_dir / "dagbag.log"):
        bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise RuntimeError(f"DAGs failed to import: {bag.import_errors}")
    return bag


class Plain:
    """How the demo reports its DAG runs without a progress display: one line per run."""

    def start(self, label: str) -> None:
        """A DAG run begins."""

    def line(self, text: str) -> None:
        print(text)


@contextmanager
def plain(total: int, title: str) -> Iterator[Plain]:
    yield Plain()


def run_dags(bag, dag_ids: list[str], log_dir: Path, steps: Plain | None = None
             ) -> list[tuple[str, str]]:
    """``dag.test()`` each DAG in order; returns (dag id, state) per run.

    ``steps`` is told when each run starts and prints its line (a progress bar on a
    terminal, given by the command line)."""
    steps = steps or Plain()
    runs = []
    for dag_id in dag_ids:
        steps.start(dag_id)
        started = time.monotonic()
        with _quiet(log_dir / f"{dag_id}.log"):
            state = str(bag.dags[dag_id].test().state)
        runs.append((dag_id, state))
        steps.line(f"  {dag_id:<40} {state:<8} {time.monotonic() - started:5.1f} s")
    return runs


def main(rows: int = 200, steps: Callable[[int, str], AbstractContextManager[Plain]] = plain
         ) -> int:
    """The whole demo; ``steps(total, title)`` gives the progress display of the DAG runs."""
    settings = Settings.from_env()
    contracts = load_catalog(settings.catalog_dir)
    print(f"jinshu demo · home {settings.home}")
    files = drop_samples(settings, contracts, rows)
    files.append(drop_repeats(settings, contracts, files, rows))
    consents = drop_consents(settings, contracts, files, withdrawals=False)
    print(f"dropped {len(files)} extracts ({rows} rows per clean file) and {consents} consent "
          f"extracts into {settings.landing_url}")
    logs = settings.home / "demo-logs"
    print("running DAGs with dag.test():")
    bag = load_dags(logs)
    first = ["record_consents", *(f"ingest_{c}" for c in contracts)]
    then = ["record_consents", "publish_exchange", "publish_open_data", "repeat_collection"]
    with steps(len(first) + len(then), "running") as shown:
        runs = run_dags(bag, first, logs, shown)
        withdrawn = drop_consents(settings, contracts, files, withdrawals=True)
        shown.line(f"dropped {withdrawn} consent extracts with withdrawals")
        runs += run_dags(bag, then, logs, shown)
    requested = request_exchange(settings, contracts)
    with engine_for(settings.store_url).connect() as conn:
        print("\nbatch ledger (rows in = stored + duplicates + quarantined):")
        print(batch_table(ledger.summary(conn), files=True))
        exchange = [(r["dataset_id"], r["rows"]) for r in query(conn, "exchange_publications.sql")]
        collection = collection_report(conn)
    print("\n" + render_collection(collection))
    with engine_for(settings.store_url).connect() as conn:
        repeats = repeat_report(conn, contracts, load_concepts(settings.catalog_dir))
    print("\n" + render_repeat(repeats))
    from jinshu.govern.scorecard import render_quality_text

    engine = engine_for(settings.store_url)
    print("\n" + render_quality_text(engine, contracts))
    from jinshu.protect.rotation import key_counts

    sealed: dict[str, int] = {}
    for (dataset, field, key_id), n in sorted(key_counts(engine, contracts).items()):
        if field != crypto.ORIGINALS:
            sealed[f"{dataset}.{field} ({key_id})"] = n
    print("\nencrypted at rest (AES-256-GCM, key id): "
          + ", ".join(f"{name} {n}" for name, n in sealed.items()))
    with engine.connect() as conn:
        verdict = audit.verify(conn)
    print(f"audit log: {verdict.entries} entries, "
          + ("hash chain intact" if verdict.intact else f"BROKEN at {verdict.first_broken}"))
    print(f"\nexchange requests: {len(requested)} (one approved, one refused, one waiting for its "
          "owner)")
    print("\noutputs:")
    print(f"  central store   {settings.store_url}")
    print(f"  exchange tables {', '.join(f'ex_{d} ({n} rows)' for d, n in exchange)}")
    print(f"  open data       {settings.open_data_url} (catalog.jsonld + .ttl, DCAT-AP; "
          "<dataset>/<version>/ CSV, JSON, Parquet, datapackage.json, provenance.json)")
    print(f"  open-data page  {Path(settings.open_data_url) / 'index.html'} (offline; or run "
          f"python3 -m http.server 8000 -d {settings.open_data_url} and open "
          f"{settings.open_data_public_url}/index.html)")
    print(f"  quality         {settings.quality_dir / 'scorecard.html'} (department scorecard),"
          f" {settings.quality_dir / 'data-docs'} (GX Data Docs)")
    print(f"  task logs       {settings.home / 'demo-logs'}")
    print("  governance      make airflow, then http://127.0.0.1:8080 (领导驾驶舱 cockpit; users "
          "admin and one per department, passwords in "
          f"{Path(os.environ.get('AIRFLOW_HOME', settings.home / 'airflow'))}"
          "/simple_auth_manager_passwords.json.generated)")
    print(f"\nto look around with the CLI: export JINSHU_HOME={settings.home}  "
          "(then .venv/bin/jinshu batches, .venv/bin/jinshu audit verify, .venv/bin/jinshu serve ...)")
    failed = [dag_id for dag_id, state in runs if state != "success"]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
