"""Leak guard: a raw personal identifier in an outgoing artifact blocks it.

Recognizes resident ID numbers (18 digits with a valid check character, birth date
and address code, or the old 15-digit form), mainland mobile numbers (with or without
``+86``/``0086``), bank cards (16-19 digits passing Luhn) and passport numbers.
Checksums keep it from crying wolf on arbitrary digits. Hits are reported masked.

>>> [h.kind for h in scan("联系人 140105199803071232，电话 13812345678")]
['cn_ric', 'mobile']
>>> scan("随机数 140105199803071233 与编码 91140105MA0K1B2C1E")
[]

The text is normalized first (:func:`normalize_for_scan`: percent-escapes decoded,
NFKC, every script's digits made ASCII, zero-width characters dropped), and digit
groups split by one to three separators (space, ``-``, ``.``, ``_``, ``/``) are read
as one number when they keep a usual layout (``140105 19980307 1232``,
``159 0044 9361``, a card in groups of four), so the usual disguises are seen through:

>>> [(h.kind, h.masked) for h in scan("身份证 140105-19980307-1232；手机 +86 159 0044 9361")]
[('cn_ric', '1****************2'), ('mobile', '159****9361')]
>>> [h.kind for h in scan("sfz١٤٠١٠٥١٩٩٨٠٣٠٧١٢٣٢ 卡 6222 0212 3456 7890 128 ?id%3D140105199803071232")]
['cn_ric', 'bank_card', 'cn_ric']

Only usual layouts: ``140105 2024-03-05 1202`` in a report is a county, a date and a
count, and read as one number it would pass as an ID one time in 11.

Where a number touches ASCII letters (``sfz140105...``, ``...1232abc``) only a full
resident ID counts: its check character, birth date (a real day, 1900 to this year) and
known address code together pass about 1 random 18-digit run in 3 million, and a
32-hex hash holds a lone 18-digit run about once in 2,000 hashes, so one hash in
billions would be read as an ID. Mobiles (no checksum) and cards (Luhn passes 1 in 10)
must stand apart from letters, so a hash or a code such as ``91140105MA0K1B2C1E``
never hits.

Text that comes from outside and must be stored or shown (a file name, a
column header) goes through :func:`shown` first:

>>> shown("张三_140105199803071232_手机13812345678.csv")
'张三_1****************2_手机138****5678.csv'
>>> print(shown("a.csv\\n[INFO] forged \\x1b[31mline"))
a.csv\\n[INFO] forged \\x1b[31mline
"""

from __future__ import annotations

import re
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from urllib.parse import unquote

import pandas as pd

from jinshu.vocab import mask
from jinshu.vocab.divisions import address_codes
from jinshu.vocab.formats import cn_ric
from jinshu.vocab.formats._vector import fold_table

# Each kind's shape, on the digits (and letters) of a normalized candidate.
PATTERNS = {
    "cn_ric": re.compile(r"[1-9][0-9]{16}[0-9X]"),
    "cn_ric_15": re.compile(r"[1-9][0-9]{14}"),
    "mobile": re.compile(r"(?:0086|86)?1[3-9][0-9]{9}"),
    # UnionPay (62, 16-19 digits) or Visa/Mastercard (16 digits): Luhn alone passes 1 in 10.
    "bank_card": re.compile(r"62[0-9]{14,17}|4[0-9]{15}|5[1-5][0-9]{14}"),
    # Chinese e-passports (E or G + 8 digits) and the older E/DE/SE/PE forms.
    "passport": re.compile(r"[EG][0-9]{8}|E[A-Z][0-9]{7}|[DSP]E[0-9]{7}"),
}
# How a separated number may be grouped (digits per group, an ID's X counted); one unbroken
# run always may. Not any grouping: see the module docstring.
RIC_LAYOUTS = {(6, 8, 4), (6, 8, 3, 1), (6, 4, 4, 4), (4, 4, 4, 4, 2)}
RIC_15_LAYOUTS = {(6, 6, 3)}
MOBILE_LAYOUTS = {(11,), (3, 4, 4), (3, 8)}  # after an optional 86 / 0086 group
MOBILE_PREFIXES = ("86", "0086")
# How each kind is shown in a message: never more than the masks of the data itself show.
MASKS = {"cn_ric": "cn_ric", "cn_ric_15": "cn_ric", "mobile": "mobile", "bank_card": "bank_card",
         "passport": "cn_ric"}
LONGEST = 19  # digits in the longest kind (a 19-digit card)

# Where a number may start: at least 11 digits and separators, a digit at both ends.
_CHUNK = re.compile(r"[0-9][0-9 ._/-]{9,}[0-9]")
_RUN = re.compile(r"[0-9]+(?:[ ._/-]{1,3}[0-9]+)*")
_GAP = re.compile(r"[ ._/-]{4}")  # four separators or more split a chunk into runs
_GROUP = re.compile(r"[0-9]+")
# A mobile, card or old-ID layout somewhere in a chunk (an ID may have any grouping).
_LAYOUT = re.compile(r"[0-9]{11}|(?<![0-9])(?:[0-9]{3}[ ._/-]{1,3}(?:[0-9]{4}[ ._/-]{1,3}[0-9]{4}|[0-9]{8})"
                     r"|[0-9]{6}[ ._/-]{1,3}[0-9]{6}[ ._/-]{1,3}[0-9]{3}"
                     r"|[0-9]{4}(?:[ ._/-]{1,3}[0-9]{4}){3})(?![0-9])")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_PASSPORT = re.compile(r"[DEGPS][0-9A-Z][0-9]{7}")  # starts with a letter: a pass of its own
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_ASCII_ALNUM = _ASCII_LETTERS | _DIGITS


@dataclass(frozen=True)
class Hit:
    kind: str
    offset: int  # in the text as given
    masked: str
    symbols: int = 0  # digits and letters of the identifier (its separators not counted)


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


# --- normalization -------------------------------------------------------------------------


@cache
def _special() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(where normalization may matter, the run to rewrite from there).

    What may matter: a non-ASCII digit; any other character of ``fold_table`` (or a
    ``%``) next to a digit or another such character. A full-width space between two
    words is left alone, so Chinese text full of them stays on the fast path. Characters
    beyond the BMP (rare: emoji, mathematical digits) all count as digits here: one
    class of BMP characters plus one range keeps the search fast.
    """
    table = fold_table()
    digits = _char_class(c for c, to in table.items() if c < 0x10000 and to and to.isdigit())
    others = _char_class(c for c, to in table.items() if c < 0x10000 and not (to and to.isdigit()))
    digits += "\U00010000-\U0010ffff"
    near = f"[0-9%{digits}{others}]"
    find = re.compile(f"[%{digits}{others}](?:(?<=[{digits}])|(?<={near}.)|(?={near}))")
    return find, re.compile(f"(?:[{digits}{others}]|%[0-9A-Fa-f]{{2}})+")


def _char_class(codes: Iterable[int]) -> str:
    """The inside of a regex character class holding ``codes``, as ranges."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)


def normalize_for_scan(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` as the guard reads it, and anchors to map positions back.

    Percent-escapes are decoded (``urllib.parse.unquote``), then NFKC, digits of every
    script become ASCII, format characters are dropped, Unicode spaces and dashes become
    ``' '`` and ``'-'`` (``jinshu.vocab.formats._vector.fold_table``, which ingest uses too).
    Only runs of such characters next to digits are rewritten (see :func:`_special`),
    and text with none (most text) is returned as it is. The anchors are
    ``(normalized, original)`` positions around each run that changed length.

    >>> normalize_for_scan("ID١٤٠١\u200b０５%31%39")
    ('ID14010519', [(2, 2), (10, 15)])
    """
    if text.isascii() and "%" not in text:
        return text, []
    find, run_at = _special()
    table = fold_table()
    pieces: list[str] = []
    anchors: list[tuple[int, int]] = []
    done = shift = 0
    for found in find.finditer(text):
        start = found.start()
        while start - 3 >= done and _ESCAPE.fullmatch(text, start - 3, start):
            start -= 3  # back to the first of a row of escapes (%E2%80%8B is one character)
        run = run_at.match(text, start) if start >= done else None
        if run is None:  # a '%' that starts no escape, or a run already rewritten
            continue
        raw = run.group()
        out = unicodedata.normalize("NFKC", unquote(raw) if "%" in raw else raw).translate(table)
        pieces += (text[done:start], out)
        done = run.end()
        if len(out) != len(raw):
            at = start - shift
            anchors += ((at, start), (at + len(out), done))
            shift += len(raw) - len(out)
    if not pieces:
        return text, anchors
    pieces.append(text[done:])
    return "".join(pieces), anchors


def _original(anchors: list[tuple[int, int]], position: int) -> int:
    """Position in the original text of ``position`` in the normalized one."""
    index = bisect_right(anchors, (position, sys.maxsize)) - 1
    if index < 0:
        return position
    normalized, original = anchors[index]
    if index % 2 == 0:  # inside a rewritten run: the run's start
        return original
    return original + position - normalized


# --- checks --------------------------------------------------------------------------------


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
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= date.today().year


def _confirmed(kind: str, value: str) -> bool:
    """``value`` (as normalized) has the shape of ``kind`` and passes its checks."""
    if not PATTERNS[kind].fullmatch(value):
        return False
    if kind == "cn_ric":
        return _ric_ok(value)
    if kind == "cn_ric_15":
        first17 = value[:6] + "19" + value[6:]
        return any(_ric_ok(first17 + check) for check in "0123456789X")
    if kind == "bank_card":
        return _luhn(value) and not (len(value) == 18 and _ric_ok(value))
    return True


# --- reading numbers -----------------------------------------------------------------------


def _kind(groups: list[str], x_after: bool, touches_letters: bool, more: int = 0) -> tuple[str, str] | None:
    """``(kind, value)`` of the number written as these digit groups, or ``None``.

    ``x_after``: an ``X`` (not followed by a digit) ends the last group;
    ``touches_letters``: an ASCII letter (that ``X`` included) is glued to either end;
    ``more``: digits in the group after the last one (0: none), which can make a card
    in groups of four longer: then the longer reading was the card, and it failed.
    """
    layout = tuple(map(len, groups))
    single = len(groups) == 1
    value = "".join(groups)
    if x_after and len(value) == 17:
        value += "X"
        layout = (*layout[:-1], layout[-1] + 1)
    if len(value) == 18 and (single or layout in RIC_LAYOUTS) and _ric_ok(value):
        return "cn_ric", value
    if touches_letters:  # inside letters only a full resident ID is trusted
        return None
    if (single or layout in RIC_15_LAYOUTS) and _confirmed("cn_ric_15", value):
        return "cn_ric_15", value
    core = layout[1:] if not single and groups[0] in MOBILE_PREFIXES else layout
    if (single or core in MOBILE_LAYOUTS) and _confirmed("mobile", value):
        return "mobile", value[-11:]
    fours = len(layout) > 3 and set(layout[:-1]) == {4} and layout[-1] <= 4 \
        and not (layout[-1] == 4 and 0 < more <= 4 and len(value) + more <= LONGEST)
    if (single or fours) and _confirmed("bank_card", value):
        return "bank_card", value
    return None


_TOTALS = frozenset((11, 13, 15, 16, 17, 18, 19))  # digits a reading can have


def _readings(groups: list[str], left: str, right: str, after_x: str) -> Iterator[tuple[int, str, str]]:
    """``(group index, kind, value)`` of each identifier written in these digit groups.

    ``left``/``right``: the characters just before the first and after the last group
    (``""`` when a separator or nothing), ``after_x``: the one after a trailing ``X``.
    From each group on, the longest confirmed reading wins and the search goes on after
    it, so an ID followed by a mobile (``140105199803071232 13812345678``) is two hits.
    """
    lengths = [len(g) for g in groups]
    glued_left, glued_right = left in _ASCII_LETTERS, right in _ASCII_LETTERS
    x_after = right in ("X", "x") and after_x not in _DIGITS
    i, n = 0, len(groups)
    while i < n:
        last, total = i, lengths[i]
        while last + 1 < n and total + lengths[last + 1] <= LONGEST:
            last += 1
            total += lengths[last]
        for j in range(last, i - 1, -1):
            if total in _TOTALS:
                at_end = j == n - 1
                found = _kind(groups[i:j + 1], at_end and x_after,
                              (i == 0 and glued_left) or (at_end and glued_right),
                              0 if at_end else lengths[j + 1])
                if found:
                    yield i, *found
                    i = j
                    break
            total -= lengths[j]
        i += 1


def _numbers(text: str) -> Iterator[tuple[str, int, str]]:
    """``(kind, offset, value)`` of every identifier written in digits in normalized ``text``."""
    for chunk in _CHUNK.finditer(text):
        number = chunk.group()
        groups = _GROUP.findall(number)
        digits = sum(map(len, groups))
        if len(groups) > 1 and digits < 18 and not _LAYOUT.search(number) \
                and text[chunk.end():chunk.end() + 1] not in ("X", "x"):
            continue  # dates, ranges, lists of small numbers: too short for an ID, no layout
        if len(number) - digits <= len(groups) - 1 or not _GAP.search(number):
            yield from _read(text, chunk.start(), number, groups)
        else:  # a gap of 4+ separators: each side is read on its own
            for run in _RUN.finditer(number):
                piece = run.group()
                yield from _read(text, chunk.start() + run.start(), piece, _GROUP.findall(piece))


def _read(text: str, start: int, number: str, groups: list[str]) -> Iterator[tuple[str, int, str]]:
    """Identifiers in ``number`` (digit groups and short separators) at ``start`` in ``text``."""
    end = start + len(number)
    found = list(_readings(groups, text[start - 1:start], text[end:end + 1], text[end + 1:end + 2]))
    if found:
        offsets = [start + group.start() for group in _GROUP.finditer(number)]
        for i, kind, value in found:
            yield kind, offsets[i], value


def _passports(text: str) -> Iterator[tuple[str, int, str]]:
    """Passport numbers standing apart from other letters and digits."""
    for found in _PASSPORT.finditer(text):
        start, end = found.span()
        if text[start - 1:start] not in _ASCII_ALNUM and text[end:end + 1] not in _ASCII_ALNUM \
                and _confirmed("passport", found.group()):
            yield "passport", start, found.group()


def scan(text: str) -> list[Hit]:
    """Every confirmed raw identifier in ``text``, masked, in order of position."""
    normalized, anchors = normalize_for_scan(text)
    found = sorted((offset, kind, value) for kind, offset, value in
                   (*_numbers(normalized), *_passports(normalized)))
    masks: dict[tuple[str, str], str] = {}
    for how in set(MASKS.values()):
        values = sorted({value for _, kind, value in found if MASKS[kind] == how})
        if values:
            masked = mask.apply(how, pd.Series(values, dtype="str")).tolist()
            masks.update(((how, v), m) for v, m in zip(values, masked, strict=True))
    return [Hit(kind, _original(anchors, offset), masks[MASKS[kind], value], len(value))
            for offset, kind, value in found]


def _symbols_end(text: str, start: int, symbols: int) -> int:
    """The index just after the ``symbols``-th digit or letter from ``start`` in ``text``
    (separators, zero-width and full-width forms as the scan reads them)."""
    table, seen, index = fold_table(), 0, start
    while index < len(text) and seen < symbols:
        folded = unicodedata.normalize("NFKC", text[index]).translate(table)
        seen += sum(ch.isascii() and ch.isalnum() for ch in folded)
        index += 1
    return index


def redact(text: str) -> str:
    """``text`` with every identifier the scan finds replaced by its mask."""
    out, end = [], 0
    for hit in scan(text):
        if hit.offset < end:
            continue  # the same digits read as another kind
        out += [text[end:hit.offset], hit.masked]
        end = _symbols_end(text, hit.offset, hit.symbols)
    return "".join([*out, text[end:]])


def _escaped(ch: str) -> str:
    """A control or format character as its visible escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
        return ch.encode("unicode_escape").decode("ascii")
    return ch


def shown(text: str, limit: int = 120) -> str:
    """What of an outside text (a file name, a header) may be stored or shown: identifiers
    masked (in any of the layouts the scan sees through), control characters escaped so it
    cannot forge a log line, and at most ``limit`` characters (the middle cut, so an
    extension stays)."""
    safe = "".join(map(_escaped, redact(text)))
    if len(safe) <= limit:
        return safe
    tail = min(16, limit // 4)
    return f"{safe[:limit - tail - 1]}…{safe[-tail:]}"


def guard(artifact: str, data: bytes) -> None:
    """Raise :class:`LeakFound` when ``data`` (UTF-8 text) carries a raw identifier."""
    hits = scan(data.decode("utf-8", errors="replace"))
    if hits:
        raise LeakFound(artifact, hits)
