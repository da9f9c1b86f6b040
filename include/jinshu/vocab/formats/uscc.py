"""Unified Social Credit Code (GB 32100-2015), 18 characters.

>>> import pandas as pd
>>> codes = pd.Series(["91140105MA0K1B2C1E", "12140100123456788c", "91140105MA0K1B2C1F"])
>>> is_valid(normalize(codes)).tolist()
[True, True, False]
>>> regions(codes[:1]).tolist()  # the registering authority's division code
['140105']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jinshu.vocab.formats._vector import Failures, fixed_width_bytes, has_length, shaped

RULE = "unified social credit code: 18 characters of 0-9 A-Y (no I O Z S V), GB 32100 check"
FIX = "copy the code from the business licence; it has 18 characters"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_VALUE = np.full(256, -1, dtype=np.int64)
_VALUE[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
# GB 32100-2015 appendix A (with A and N added since): registration authority -> its entity types.
ENTITY_TYPES = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 中央编办直接管理机构编制的群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "123459",  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国旅游部门常驻代表机构, 港澳台地区旅游部门常驻内地（大陆）代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他
}
AUTHORITY_TYPES = frozenset(a + t for a, types in ENTITY_TYPES.items() for t in types)
PARTS = {  # what is wrong with a code, never the code itself
    "length": "unified social credit code: must have 18 characters",
    "characters": "unified social credit code: only digits and capital letters except I, O, Z, S and V",
    "authority": "unified social credit code: the first two characters are not a registration authority "
                 "and entity type of GB 32100 (e.g. 91 for an enterprise)",
    "region": "unified social credit code: characters 3-8 must be the six-digit division code",
    "checksum": "unified social credit code: check character does not match the first 17 characters",
}


def normalize(values: pd.Series) -> pd.Series:
    return values.str.upper()


def failures(values: pd.Series) -> pd.Series:
    """The first part of each code that is wrong (a key of :data:`PARTS`), missing where valid.

    >>> import pandas as pd
    >>> failures(pd.Series(["91140105MA0K1B2C1E", "91140105MA0K1B2C1", "91140105MA0K1B2CIE",
    ...                     "94140105MA0K1B2C1E", "91A40105MA0K1B2C1E", "91140105MA0K1B2C1F"])).tolist()
    [nan, 'length', 'characters', 'authority', 'region', 'checksum']
    """
    found = Failures(values, PARTS)
    found.fail("length", ~has_length(found.passing(), 18))
    found.fail("characters", ~shaped(found.passing(), f"[{ALPHABET}]{{18}}"))
    found.fail("authority", ~found.passing().str.slice(0, 2).isin(AUTHORITY_TYPES).to_numpy(dtype=bool))
    found.fail("region", ~shaped(found.passing().str.slice(2, 8), "[0-9]{6}"))
    matrix = fixed_width_bytes(found.passing(), 18)
    expected = _ALPHABET_BYTES[(31 - (_VALUE[matrix[:, :17]] @ WEIGHTS) % 31) % 31]
    found.fail("checksum", expected != matrix[:, 17])
    return found.result()


def is_valid(values: pd.Series) -> np.ndarray:
    """Length, alphabet, registration authority and entity type, division digits, check character.

    >>> import pandas as pd
    >>> is_valid(pd.Series(["12140100123456788C", "N2140105MA0K1B2C1X", "Y1110000MA0K1B2C1Y",
    ...                     "94140105MA0K1B2C15", None])).tolist()
    [True, True, True, False, False]
    """
    return failures(values).isna().to_numpy(dtype=bool)


def regions(values: pd.Series) -> pd.Series:
    """The registering authority's GB/T 2260 division code (characters 3-8)."""
    return values.str.slice(2, 8)
