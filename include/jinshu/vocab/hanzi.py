"""Chinese text folded for comparison: one form per character, and its sound.

:func:`fold` gives the form two departments' spellings of the same name or
address share: NFKC (full-width letters, digits and spaces made ASCII), no
whitespace, traditional characters made simplified, one character at a time, as
OpenCC's ``t2s`` converts each (the maintained converter; names and addresses need no
phrase context). :func:`syllables` gives the toneless
pinyin of each character (pypinyin, the most common reading), so that a
homophone typed by a pinyin input method (伟 for 玮) still sounds the same.
Both libraries load on first use and remember each character they have seen.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_SPACE = re.compile(r"\s+")
_SYLLABLES: dict[str, str] = {}


class _Simplified(dict):
    """Code point -> its simplified form, asked of OpenCC the first time a character is seen."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = simple = _t2s().convert(char) if code > 0x2E7F else char
        return simple


_SIMPLIFIED = _Simplified()


def fold(text: str) -> str:
    """Full-width and spaces folded, traditional made simplified.

    >>> fold("王　偉")
    '王伟'
    >>> fold(" 小店區迎澤大街１２號 ")
    '小店区迎泽大街12号'
    >>> fold("")
    ''
    """
    text = unicodedata.normalize("NFKC", text)
    if _SPACE.search(text):
        text = "".join(text.split())
    return text if text.isascii() else text.translate(_SIMPLIFIED)


def syllables(text: str) -> list[str]:
    """Toneless pinyin of each character; a character without a reading stands for itself.

    >>> syllables("王伟")
    ['wang', 'wei']
    >>> syllables("王玮") == syllables("汪伟")
    True
    >>> syllables("A1")
    ['A', '1']
    """
    out = []
    for char in text:
        sound = _SYLLABLES.get(char)
        if sound is None:
            sound = _SYLLABLES[char] = _reading(char)
        out.append(sound)
    return out


def _reading(char: str) -> str:
    from pypinyin import Style, lazy_pinyin  # about 0.2 s to import: only when a name is compared

    return lazy_pinyin(char, style=Style.NORMAL, errors=lambda c: [c])[0]


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s.json")
