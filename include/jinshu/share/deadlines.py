"""Response deadlines in working days (docs/regulation.md#deadlines, Shanxi practice).

=================================  ===================
request                            answer within
=================================  ===================
unconditional (compliance review)  2 working days
conditional, data on the platform  5 working days
conditional, to be published first 10 working days
=================================  ===================

Weekends and the configured holidays (``JINSHU_HOLIDAYS``) are skipped; the
day a request arrives does not count.

>>> from datetime import date
>>> add_working_days(date(2026, 10, 30), 2, frozenset())  # a Friday
datetime.date(2026, 11, 3)
"""

from __future__ import annotations

from datetime import date, timedelta

RESPONSE_DAYS = {"unconditional": 2, "conditional": 5, "publish_first": 10}


def is_working_day(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: date, days: int, holidays: frozenset[date]) -> date:
    """The ``days``-th working day after ``start``."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        left -= is_working_day(day, holidays)
    return day


def review_kind(sharing_class: str, published: bool) -> str:
    """Which deadline a request gets: the dataset's class, and whether it is on the exchange yet."""
    if sharing_class == "unconditional":
        return "unconditional"
    return "conditional" if published else "publish_first"


def due_on(received: date, review: str, holidays: frozenset[date]) -> date:
    return add_working_days(received, RESPONSE_DAYS[review], holidays)


def is_overdue(due: date, today: date) -> bool:
    """Still unanswered after its last working day."""
    return today > due
