"""Open licences a dataset may be published under (``open.licence`` in its contract).

Each has an SPDX identifier, a title (Chinese first) and the IRI of its text, which the
data package (``licenses``) and the DCAT-AP catalog (``dct:license``) both carry.

>>> LICENCES["CC-BY-4.0"].path
'https://creativecommons.org/licenses/by/4.0/'
"""

from __future__ import annotations

from typing import NamedTuple


class Licence(NamedTuple):
    name: str  # SPDX identifier
    title: str
    path: str  # the licence text: an IRI
    kind: str  # its ADMS licence type (http://purl.org/adms/licencetype/<kind>)


LICENCES = {lic.name: lic for lic in (
    Licence("CC-BY-4.0", "知识共享署名 4.0 国际 (Creative Commons Attribution 4.0 International)",
            "https://creativecommons.org/licenses/by/4.0/", "Attribution"),
    Licence("CC0-1.0", "CC0 1.0 公有领域贡献 (Creative Commons Zero 1.0 Universal)",
            "https://creativecommons.org/publicdomain/zero/1.0/", "PublicDomain"),
    Licence("CC-BY-SA-4.0",
            "知识共享署名-相同方式共享 4.0 国际 (Creative Commons Attribution-ShareAlike 4.0)",
            "https://creativecommons.org/licenses/by-sa/4.0/", "ShareAlike"),
    Licence("ODC-By-1.0", "开放数据共享署名许可 1.0 (Open Data Commons Attribution License 1.0)",
            "https://opendatacommons.org/licenses/by/1-0/", "Attribution"),
    Licence("ODbL-1.0", "开放数据库许可 1.0 (Open Data Commons Open Database License 1.0)",
            "https://opendatacommons.org/licenses/odbl/1-0/", "ShareAlike"),
)}
