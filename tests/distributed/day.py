"""A day of drops on the native stack: every department's extracts, every DAG run awaited.

Consent extracts go first and ``record_consents`` finishes before any dataset
extract lands, so that the consent gate sees the same decisions in every run
(the order a department's files arrive in is an input, not a race). Then one
extract per dataset (with that department's usual faults, as the end-to-end
test plants them; household registration's file is sent twice) and every
ingest DAG is triggered; the publishers follow on the datasets' Assets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jinshu.catalog import Contract
from jinshu.dev.generate import consent_extract, generate_frame, render_extract
from jinshu.govern import audit
from jinshu.settings import Settings
from jinshu.store.objects import ObjectStore, open_store
from tests.distributed import fingerprint
from tests.distributed.processes import wait_until
from tests.distributed.stack import Stack

ROWS = 120  # per extract: small, so the harness measures the platform, not pandas
FAULTS = {  # the faults each department's extract carries (as in tests/dags/test_end_to_end.py)
    "household_registration": {"bad_checksum", "duplicate_rows"},
    "social_insurance_enrollment": {"undeclared_column"},
    "minimum_living_allowance": {"gb18030", "ragged_rows"},
    "enterprise_registration": {"xlsx"},
    "vaccination_sites": {"duplicate_rows"},
}
RESENT = ("household_registration", "resent.csv")  # the same bytes sent twice: a repeat drop
CONSENTS = [("minimum_living_allowance", "phone"), ("social_insurance_enrollment", "email")]
PUBLISHERS = ("publish_exchange", "publish_open_data")
Disturbance = Callable[[Stack], dict]


@dataclass
class Day:
    """What one day of drops left, and how it went."""

    runs: list[dict]
    rows: dict[str, list[str]]  # the central store's tables, as compared (fingerprint.store_rows)
    open_data: dict[str, fingerprint.Part]
    stage_left: list[str]
    quality_keys: list[str]
    chain_intact: bool
    seconds: float  # from the first ingest trigger until every run had finished
    disturbance: dict = field(default_factory=dict)

    @property
    def parts(self) -> dict[str, fingerprint.Part]:
        return fingerprint.parts_of(self.rows)

    def compared(self) -> dict[str, object]:
        """What must equal the undisturbed run's: counts and checksums."""
        return {"store": self.parts, "open_data": self.open_data, "stage_left": self.stage_left}

    def differences(self, other: Day) -> list[str]:
        """What differs from ``other``, with a sample of the rows only one of them has."""
        found = []
        for table in sorted(set(self.rows) | set(other.rows)):
            mine, theirs = set(self.rows.get(table, [])), set(other.rows.get(table, []))
            if mine != theirs or len(self.rows.get(table, [])) != len(other.rows.get(table, [])):
                found.append(f"{table}: {len(self.rows.get(table, []))} rows vs "
                             f"{len(other.rows.get(table, []))}; only here: "
                             f"{sorted(mine - theirs)[:2]}; only there: {sorted(theirs - mine)[:2]}")
        for key in sorted(set(self.open_data) | set(other.open_data)):
            if self.open_data.get(key) != other.open_data.get(key):
                found.append(f"open data {key}: {self.open_data.get(key)} vs {other.open_data.get(key)}")
        if self.stage_left != other.stage_left:
            found.append(f"stage files left: {self.stage_left} vs {other.stage_left}")
        return found


def harness_settings(stack: Stack) -> Settings:
    """Settings of a process on the harness's own host (keys from the deployment's secrets)."""
    settings = Settings.from_env(stack.env_for("harness", "harness"))
    audit.use_settings(settings)
    return settings


def drop_consents(landing: ObjectStore, contracts: dict[str, Contract]) -> int:
    for dataset_id, field_name in CONSENTS:
        contract = contracts[dataset_id]
        ids = generate_frame(contract, ROWS, seed=1)[contract.subject_key].tolist()
        granted, refused = int(len(ids) * 0.6), int(len(ids) * 0.2)
        data = consent_extract(ids[:granted + refused], dataset_id, field_name,
                               ["granted"] * granted + ["refused"] * refused, "2026-11-01")
        landing.write(f"{contract.department.code}/consent/{dataset_id}_decisions.csv", data)
    return len(CONSENTS)


def drop_extracts(landing: ObjectStore, contracts: dict[str, Contract]) -> list[str]:
    keys = []
    for contract in contracts.values():
        faults = FAULTS.get(contract.id, frozenset())
        frame = generate_frame(contract, ROWS, seed=1)
        name, data = render_extract(contract, frame, faults=faults, seed=1,
                                    header="name" if "xlsx" in faults else "title")
        keys.append(contract.landing_prefix + name)
        landing.write(keys[-1], data)
        if contract.id == RESENT[0]:
            keys.append(contract.landing_prefix + RESENT[1])
            landing.write(keys[-1], data)
    return keys


def quiet(stack: Stack) -> bool:
    """No DAG run queued or running, no Asset event waiting for a publisher."""
    if stack.runs(state=["queued", "running"]):
        return False
    return not any(stack.waiting_asset_events(dag_id) for dag_id in PUBLISHERS)


def wait_quiet(stack: Stack, timeout: float = 900) -> None:
    def twice() -> bool:
        if not quiet(stack):
            return False
        time.sleep(1.5)  # an Asset event between a run's end and the next run's creation
        return quiet(stack)
    try:
        wait_until(twice, timeout, "every DAG run finished", every=1)
    except TimeoutError as error:
        raise TimeoutError(f"{error}\n{stack.logs()}") from error


def start_runs(stack: Stack, dag_ids: list[str]) -> None:
    """Trigger each DAG; a DAG still paused is unpaused instead (its first scheduled run
    starts at once: the day's drops are already there)."""
    paused = stack.paused()
    for dag_id in dag_ids:
        if dag_id in paused:
            stack.unpause(dag_id)
        else:
            stack.trigger(dag_id)


def run_day(stack: Stack, contracts: dict[str, Contract],
            disturbance: Disturbance | None = None) -> Day:
    """Empty store and buckets, the day's drops, every DAG run awaited; what it left.

    The first day unpauses the DAGs (publishers with the ingest DAGs); later days trigger
    them. ``disturbance`` runs right after the ingest DAGs started; it returns what it did.
    """
    wait_quiet(stack)
    stack.reset_data()
    settings = harness_settings(stack)
    landing = open_store(settings.landing_url, settings.s3_endpoint_url)
    since = datetime.now(UTC).isoformat()
    drop_consents(landing, contracts)
    start_runs(stack, ["record_consents"])
    wait_quiet(stack)
    drop_extracts(landing, contracts)
    started = time.monotonic()
    for publisher in PUBLISHERS:
        if publisher in stack.paused():
            stack.unpause(publisher)
    start_runs(stack, [f"ingest_{c}" for c in contracts])
    done = disturbance(stack) if disturbance else {}
    wait_quiet(stack)
    seconds = time.monotonic() - started
    runs = stack.runs(start_date_gte=since)
    stage = open_store(settings.stage_url, settings.s3_endpoint_url, private=True)
    quality = open_store(settings.quality_url, settings.s3_endpoint_url)
    return Day(
        runs=runs,
        rows=fingerprint.store_rows(settings, contracts),
        open_data=fingerprint.open_data_parts(open_store(settings.open_data_url,
                                                         settings.s3_endpoint_url)),
        stage_left=fingerprint.keys_of(stage),
        quality_keys=fingerprint.keys_of(quality),
        chain_intact=fingerprint.audit_chain_intact(settings),
        seconds=seconds,
        disturbance=done,
    )
