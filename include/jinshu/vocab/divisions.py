"""GB/T 2260 administrative divisions, read from python-stdnum's dated list.

The list ships inside python-stdnum (refreshed by its maintainers), so
nothing is fetched at run time.
"""

from __future__ import annotations

import re
from functools import cache

from stdnum import numdb

_SPAN = re.compile(r"\[(\d{4})?-(\d{4})?\]")


@cache
def _counties() -> dict[str, tuple[str, bool]]:
    """code -> (latest name, still in use) for every county-level code ever listed."""
    out: dict[str, tuple[str, bool]] = {}
    for _, province, _, _, children in numdb.get("cn/loc").prefixes:
        for _, rest, _, props, _ in children:
            label = props.get("county", "")
            spans = label.split(",")
            last = spans[-1]
            match = _SPAN.match(last)
            current = match is None or match.group(2) is None
            out[province + rest] = (_SPAN.sub("", last), current)
    return out


@cache
def address_codes() -> frozenset[str]:
    """Every address code a resident ID may start with, including HK/Macau/Taiwan permits."""
    return frozenset(_counties()) | {"810000", "820000", "830000"}


@cache
def shanxi_counties(current_only: bool = False) -> frozenset[str]:
    """County-level codes of Shanxi (not the ``xx00`` prefecture placeholders)."""
    return frozenset(
        code for code, (_, current) in _counties().items()
        if code.startswith("14") and not code.endswith("00") and (current or not current_only)
    )


def county_name(code: str) -> str | None:
    entry = _counties().get(code)
    return entry[0] if entry else None
