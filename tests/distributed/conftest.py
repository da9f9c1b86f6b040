"""The native stack for ``make test-distributed``: started once, stopped whatever happens.

``stack`` starts every process of docker-compose.yaml natively (tests/distributed/stack.py)
and stops every process it started, by session, when the module ends or fails.
``reference`` is the undisturbed day every fault is compared with, run once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jinshu.catalog import Contract
from tests.distributed.day import Day, run_day
from tests.distributed.stack import Stack

DAY_DAGS = ["record_consents", "publish_exchange", "publish_open_data"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, contracts: dict[str, Contract]) -> Iterator[Stack]:
    native = Stack(tmp_path_factory.mktemp("stack"), workers=2)
    try:
        native.start()
        native.wait_for_dags([f"ingest_{c}" for c in contracts] + DAY_DAGS)
        yield native
    finally:
        native.close()


@pytest.fixture(scope="module")
def reference(stack: Stack, contracts: dict[str, Contract]) -> Day:
    """The day's drops on two workers, undisturbed."""
    return run_day(stack, contracts)
