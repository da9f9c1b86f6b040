"""Data themes (``dcat:theme``): the EU data-theme vocabulary that DCAT-AP harvesters expect,
with Chinese labels (``open.theme`` in a contract).

>>> THEMES["SOCI"].iri
'http://publications.europa.eu/resource/authority/data-theme/SOCI'
>>> THEMES["HEAL"].label
'卫生健康'
"""

from __future__ import annotations

from typing import NamedTuple

SCHEME = "http://publications.europa.eu/resource/authority/data-theme"


class Theme(NamedTuple):
    code: str
    label: str  # Chinese
    label_en: str

    @property
    def iri(self) -> str:
        return f"{SCHEME}/{self.code}"


THEMES = {t.code: t for t in (
    Theme("AGRI", "农业、渔业、林业和食品", "Agriculture, fisheries, forestry and food"),
    Theme("ECON", "经济和金融", "Economy and finance"),
    Theme("EDUC", "教育、文化和体育", "Education, culture and sport"),
    Theme("ENER", "能源", "Energy"),
    Theme("ENVI", "环境", "Environment"),
    Theme("GOVE", "政府和公共部门", "Government and public sector"),
    Theme("HEAL", "卫生健康", "Health"),
    Theme("INTR", "国际事务", "International issues"),
    Theme("JUST", "司法和公共安全", "Justice, legal system and public safety"),
    Theme("REGI", "地区和城市", "Regions and cities"),
    Theme("SOCI", "人口和社会", "Population and society"),
    Theme("TECH", "科学和技术", "Science and technology"),
    Theme("TRAN", "交通", "Transport"),
)}
