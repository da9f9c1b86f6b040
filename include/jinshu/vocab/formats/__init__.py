"""Identifier and code formats, one module per type (the python-stdnum habit).

Every format module exposes the same verbs, vectorized over a pandas string
Series of already trimmed, half-width values:

* ``normalize(values)`` -> Series in canonical form (e.g. upper-case ``X``);
* ``is_valid(values)`` -> boolean ndarray;
* ``RULE`` (what is checked) and ``FIX`` (what the sender should do).

Checksums are computed with numpy over whole columns; the tests hold each one
to python-stdnum's answer on the same values.
"""

from __future__ import annotations

from types import ModuleType

from jinshu.vocab.formats import cn_ric, gb2260, landline, mobile, postcode, uscc

REGISTRY: dict[str, ModuleType] = {
    "cn_ric": cn_ric,
    "uscc": uscc,
    "mobile": mobile,
    "landline": landline,
    "postcode": postcode,
    "gb2260_shanxi": gb2260,
}
