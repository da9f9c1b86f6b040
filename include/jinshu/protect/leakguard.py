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
"""

from __future__ import annotations

import re
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


def scan(text: str) -> list[Hit]:
    """Every confirmed raw identifier in ``text``, masked, in order of position."""
    hits = []
    for run in _CANDIDATE.finditer(text):
        value = run.group()
        for kind, pattern in PATTERNS.items():
            if pattern.fullmatch(value) and _confirmed(kind, value):
                shown = mask.apply("cn_ric" if kind.startswith("cn_ric") else "bank_card",
                                   pd.Series([value], dtype="str")).iloc[0]
                hits.append(Hit(kind, run.start(), shown))
    return hits


def guard(artifact: str, data: bytes) -> None:
    """Raise :class:`LeakFound` when ``data`` (UTF-8 text) carries a raw identifier."""
    hits = scan(data.decode("utf-8", errors="replace"))
    if hits:
        raise LeakFound(artifact, hits)
