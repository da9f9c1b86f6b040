"""
### Record consent decisions dropped by departments

Hourly. Every department may drop consent extracts (同意记录: ID number,
dataset, field, granted / refused / withdrawn, date, channel) in
`landing/<dept>/consent/`. Each file is one ledger batch: rows naming an
unknown dataset or field, a malformed decision or a future date are
quarantined with their reason; good rows become decisions keyed by the
subject's pseudonym. A withdrawal removes that field's stored values for that
subject at once; the next publish run drops them from the exchange and open
data.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from jinshu import tasks


@dag(
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["consent", "collection-control"],
    doc_md=__doc__,
)
def record_consents():
    @task
    def discover_consent_extracts() -> list[str]:
        return tasks.discover_consent_extracts()

    @task(max_active_tis_per_dagrun=1)
    def record_consent_extract(batch_id: str) -> dict[str, int]:
        return tasks.record_consent_extract(batch_id)

    record_consent_extract.expand(batch_id=discover_consent_extracts())


record_consents()
