"""
### Publish shareable datasets to the sharing exchange

Runs whenever a shareable dataset's ingest updates its Asset. For each
dataset whose sharing class is unconditional or conditional, `ex_<id>` in
the central store is brought to the current records in one transaction,
with personal and trade-secret fields masked and every row stamped with its
source department and acquisition date: only the records changed since the
version it holds (batches loaded, consent-based values withdrawn) are
written, replacing their earlier rows by natural key; the first publish, a
new way of masking or a contract migration writes the whole table again.
Readers see the old version or the new. A dataset under an open incident
is skipped; a raw identifier in what would be published fails its task,
keeps the previous contents and opens an incident.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from jinshu import tasks

SHAREABLE = [c for c in tasks.catalog_at_parse_time().values() if c.is_shareable]


@dag(
    schedule=tasks.any_central_asset(SHAREABLE),  # None (manual) with no shareable dataset
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["publish", "exchange"],
    doc_md=__doc__,
)
def publish_exchange():
    @task(map_index_template="{{ task.op_kwargs['dataset_id'] }}")
    def publish_dataset(dataset_id: str) -> int:
        return tasks.publish_to_exchange(dataset_id)

    publish_dataset.expand(dataset_id=[c.id for c in SHAREABLE])


publish_exchange()
