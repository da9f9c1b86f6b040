"""The provenance stamp of every exchange extract (docs/regulation.md#provenance).

Each page the exchange delivers carries a ``provenance`` block: the product-level
provenance of :func:`jinshu.open.provenance.describe` (``source_dataset``,
``source_department``, ``source_department_code``, ``acquired_at``: the newest
source batch among the rows delivered, ``published_at``: when this version
reached the exchange), then ``version``, ``delivered_at``, the ``source_batches``,
the number of ``rows``, their ``checksum`` and, for a developer, the
``authorization`` read under (id, agreement and filing numbers).

The checksum is ``sha256:`` and the hex SHA-256 of the delivered ``rows`` in a
canonical form: the JSON array exactly as received, re-serialized with object
keys sorted, no whitespace, UTF-8 with non-ASCII characters unescaped (Python:
``json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``),
so a recipient recomputes it from the body alone (:func:`verify`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson

from jinshu.catalog import Contract
from jinshu.open.provenance import describe
from jinshu.share.authorization import Authorization

ALGORITHM = "sha256"


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # as the API sends decimals: text, exactly
    raise TypeError(f"cannot serialize {type(value).__name__}")


def canonical(rows: list[dict]) -> bytes:
    """The rows as the checksum covers them (see the module docstring); dates ISO 8601.

    >>> canonical([{"b": "晋", "a": 1}])
    b'[{"a":1,"b":"\\xe6\\x99\\x8b"}]'
    """
    return orjson.dumps(rows, option=orjson.OPT_SORT_KEYS, default=_default)


def checksum(rows: list[dict]) -> str:
    return f"{ALGORITHM}:{hashlib.sha256(canonical(rows)).hexdigest()}"


def stamp(contract: Contract, rows: list[dict], *, version: str, acquired_at: datetime | None,
          published_at: datetime, delivered_at: datetime, batches: Iterable[str],
          authorization: Authorization | None = None) -> dict:
    """The ``provenance`` block of one extract of ``contract`` holding ``rows``."""
    block = describe(contract, acquired_at, published_at)
    block.update({
        "version": version,
        "delivered_at": delivered_at.astimezone(UTC).isoformat(timespec="seconds"),
        "source_batches": sorted(set(batches)),
        "rows": len(rows),
        "checksum": checksum(rows),
        "authorization": None if authorization is None else {
            "id": authorization.id, "agreement_no": authorization.agreement_no,
            "agreement_on": _day(authorization.agreement_on), "filing_no": authorization.filing_no,
            "filed_on": _day(authorization.filed_on), "expires_on": _day(authorization.expires_on)},
    })
    return block


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def verify(body: dict) -> list[str]:
    """What in a received extract does not match its stamp (empty: it verifies)."""
    stamped = body.get("provenance") or {}
    rows = body.get("rows")
    if not stamped.get("checksum") or not isinstance(rows, list):
        return ["no provenance stamp with a checksum, or no rows: not an exchange extract"]
    problems = []
    if stamped.get("rows") != len(rows):
        problems.append(f"rows: the stamp says {stamped.get('rows')}, the extract holds {len(rows)}")
    if stamped.get("source_dataset") != body.get("dataset"):
        problems.append("source_dataset: the stamp names another dataset than the extract")
    if checksum(rows) != stamped["checksum"]:
        problems.append("checksum: the rows are not the ones delivered (edited, added or removed)")
    return problems
