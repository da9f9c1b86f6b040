"""Leak guard: a raw personal identifier in an outgoing artifact blocks it.

Recognizes resident ID numbers (18 digits with a valid check character and
birth date, or the old 15-digit form), mainland mobile numbers, bank cards
(16-19 digits passing Luhn) and passport numbers. Checksums keep it from
crying wolf on arbitrary digits; a match inside a longer run of letters or
digits (a hash, a credit code) is not a hit. Hits are reported masked.

>>> [h.kind for h in scan("联系人 140105199803071232，电话 13812345678")]
['cn_ric', 'mobile']
>>> scan("随机数 140105199803071233 与编码 91140105MA0K1B2C1E")
[]

Text that comes from outside and must be stored or shown (a file name, a
column header) goes through :func:`shown` first:

>>> shown("张三_140105199803071232_手机13812345678.csv")
'张三_1****************2_手机138****5678.csv'
>>> print(shown("a.csv\\n[INFO] forged \\x1b[31mline"))
a.csv\\n[INFO] forged \\x1b[31mline
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pandas as pd

from jinshu.vocab import mask
from jinshu.vocab.divisions import address_codes
from jinshu.vocab.formats import cn_ric

# Each kind, as a whole run of ASCII letters and digits: a match inside a longer run
# (a hash, a credit code, a word) is not one.
PATTERNS = {
    "cn_ric": re.compile(r"[1-9][0-9]{16}[0-9Xx]"),
    "cn_ric_15": re.compile(r"[1-9][0-9]{14}"),
    "mobile": re.compile(r"(?:86)?1[3-9][0-9]{9}"),
    # UnionPay (62, 16-19 digits) or Visa/Mastercard (16 digits): Luhn alone passes 1 in 10.
    "bank_card": re.compile(r"62[0-9]{14,17}|4[0-9]{15}|5[1-5][0-9]{14}"),
    "passport": re.compile(r"E[0-9]{8}|E[A-Z][0-9]{7}|[DSP]E[0-9]{7}"),
}
# One pass finds every candidate: a whole run of 9-19 letters and digits (the shortest
# and longest kinds) that starts as some kind does, with a digit or D, E, P or S.
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])[0-9DEPS][0-9A-Za-z]{8,18}(?![0-9A-Za-z])")


@dataclass(frozen=True)
class Hit:
    kind: str
    offset: int
    masked: str


class LeakFound(ValueError):
    """An artifact carries raw identifiers: it must not be published."""

    def __init__(self, artifact: str, hits: list[Hit]) -> None:
        self.artifact, self.hits = artifact, hits
        kinds = sorted({h.kind for h in hits})
        examples = ", ".join(f"{h.kind} {h.masked} at offset {h.offset}" for h in hits[:3])
        super().__init__(
            f"{artifact}: {len(hits)} raw identifier(s) ({', '.join(kinds)}), e.g. {examples}. "
            "Publication blocked; the previous version stays. Fix: find the field that "
            "carries them and mask it in the contract"
        )


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _ric_ok(value: str) -> bool:
    """One 18-char resident ID: address code, real birth date, check character."""
    total = sum(int(d) * w for d, w in zip(value[:17], cn_ric.WEIGHTS.tolist(), strict=True))
    if "10X98765432"[total % 11] != value[17].upper() or value[:6] not in address_codes():
        return False
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14])).year >= 1900
    except ValueError:
        return False


def _confirmed(kind: str, value: str) -> bool:
    if kind == "cn_ric":
        return _ric_ok(value)
    if kind == "cn_ric_15":
        first17 = value[:6] + "19" + value[6:]
        return any(_ric_ok(first17 + check) for check in "0123456789X")
    if kind == "bank_card":
        return _luhn(value) and not (len(value) == 18 and _ric_ok(value))
    return True


def _found(text: str) -> Iterator[tuple[str, re.Match]]:
    """(kind, run) for every confirmed identifier; a run may be more than one kind."""
    for run in _CANDIDATE.finditer(text):
        value = run.group()
        for kind, pattern in PATTERNS.items():
            if pattern.fullmatch(value) and _confirmed(kind, value):
                yield kind, run


def scan(text: str) -> list[Hit]:
    """Every confirmed raw identifier in ``text``, masked, in order of position."""
    hits = []
    for kind, run in _found(text):
        shown_value = mask.apply("cn_ric" if kind.startswith("cn_ric") else "bank_card",
                                 pd.Series([run.group()], dtype="str")).iloc[0]
        hits.append(Hit(kind, run.start(), shown_value))
    return hits


_REDACTED_AS = {"cn_ric": "cn_ric", "cn_ric_15": "cn_ric", "mobile": "mobile",
                "bank_card": "bank_card", "passport": "generic"}


def redact(text: str) -> str:
    """``text`` with every confirmed identifier replaced by its mask (``1****************2``)."""
    out, end = [], 0
    for kind, run in _found(text):
        if run.start() < end:
            continue  # the same run found as another kind
        masked = mask.apply(_REDACTED_AS[kind], pd.Series([run.group()], dtype="str")).iloc[0]
        out += [text[end:run.start()], masked]
        end = run.end()
    return "".join([*out, text[end:]])


def _escaped(ch: str) -> str:
    """A control or format character as its visible escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
        return ch.encode("unicode_escape").decode("ascii")
    return ch


def shown(text: str, limit: int = 120) -> str:
    """What of an outside text (a file name, a header) may be stored or shown: identifiers
    masked (also those written in full-width digits), control characters escaped so it
    cannot forge a log line, and at most ``limit`` characters (the middle cut, so an
    extension stays)."""
    folded = unicodedata.normalize("NFKC", text)
    redacted = redact(folded)
    safe = "".join(map(_escaped, redact(text) if redacted == folded else redacted))
    if len(safe) <= limit:
        return safe
    tail = min(16, limit // 4)
    return f"{safe[:limit - tail - 1]}…{safe[-tail:]}"


def guard(artifact: str, data: bytes) -> None:
    """Raise :class:`LeakFound` when ``data`` (UTF-8 text) carries a raw identifier."""
    hits = scan(data.decode("utf-8", errors="replace"))
    if hits:
        raise LeakFound(artifact, hits)
