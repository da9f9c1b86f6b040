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
DAYS: list[tuple[str, Day]] = []  # (the test, its day), for the summary at the end


def pytest_terminal_summary(terminalreporter) -> None:
    if DAYS:
        terminalreporter.write_sep("-", "native stack: wall time of each day's ingest and publishing")
        for name, day in DAYS:
            terminalreporter.write_line(f"{day.seconds:6.0f} s  {name}  {day.disturbance or ''}")


@pytest.fixture
def record_day(request):
    """Call with a day a test ran, for the summary."""
    return lambda day: DAYS.append((request.node.name, day))


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
    day = run_day(stack, contracts)
    DAYS.append(("reference (undisturbed)", day))
    return day
