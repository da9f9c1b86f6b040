"""The open-data catalog in DCAT-AP 3 (JSON-LD and Turtle), built from the published packages.

Pure: the data packages of each dataset's kept versions in, an RDF graph out (rdflib),
so the catalog says exactly what the packages say. Every node has an IRI under the
public base URL (no blank nodes); distributions are typed (``dcat:mediaType`` IANA,
``dct:format`` EU file type) with absolute ``dcat:downloadURL``, size and SHA-256;
publishers are ``foaf:Agent``; each dataset has its own ``dct:issued`` (first version)
and ``dct:modified`` (current version), ``dct:accessRights`` PUBLIC, a licence IRI,
``dct:language`` Chinese, ``dct:spatial`` Shanxi (GB/T 2260 140000), a ``dcat:theme`` from
the EU data-theme vocabulary, ``dct:temporal`` the acquisition period of its data, and
``dcat:hasVersion`` every kept version. Text is tagged ``@zh`` (and ``@en`` where given).
Vocabulary terms used as values (licences, media types, themes...) are typed in the graph
so SHACL class constraints can be checked offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS

from jinshu.open.package import CATALOG_JSONLD, FORMATS, PACKAGE, PAGE, STAMP, absolute, data_file
from jinshu.open.provenance import PUBLISHER, PUBLISHER_EN
from jinshu.vocab.licences import LICENCES
from jinshu.vocab.themes import SCHEME as THEME_SCHEME
from jinshu.vocab.themes import THEMES

ADMS = Namespace("http://www.w3.org/ns/adms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
DCAT3 = Namespace(str(DCAT))  # DCAT 3 terms rdflib's DCAT (2) does not list: version, hasVersion
SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"
LANGUAGE_ZH = URIRef(f"{EU}language/ZHO")
PUBLIC = URIRef(f"{EU}access-right/PUBLIC")
# Versions are kept JINSHU_OPEN_DATA_VERSIONS publications, then removed: temporary files.
TEMPORARY = URIRef(f"{EU}planned-availability/TEMPORARY")
SHANXI_BBOX = "POLYGON((110.2 34.5,114.6 34.5,114.6 40.8,110.2 40.8,110.2 34.5))"  # WGS 84
SHANXI_CENTROID = "POINT(112.3 37.6)"
FILE_TYPES = {"csv": "CSV", "json": "JSON", "parquet": "PARQUET"}
DESCRIBED = {"csv": "CSV 格式（UTF-8，带 BOM，可用 Excel 打开）", "json": "JSON 格式（对象数组，UTF-8）",
             "parquet": "Parquet 格式（带类型的列式文件）"}
IANA = "http://www.iana.org/assignments/media-types/"
PUBLISHER_TYPE = URIRef("http://purl.org/adms/publishertype/RegionalAuthority")
DATAPACKAGE_SPEC = URIRef("https://specs.frictionlessdata.io/data-package/")
TITLE = ("山西省公共数据开放目录", "Shanxi Open Government Data Catalog")
DESCRIPTION = ("山西省政务部门依法开放的公共数据：免费、匿名化、标准化、机器可读，注明来源与获取日期。",
               "Open government data of Shanxi province: free, anonymized, standardized and "
               "machine-readable, each product stating its source and acquisition date.")
CONTEXT = {"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "skos": str(SKOS),
           "spdx": str(SPDX), "vcard": str(VCARD), "adms": str(ADMS), "xsd": str(XSD),
           "rdfs": str(RDFS), "dcatap": str(DCATAP), "gsp": str(GSP)}


SCHEMES = {f"{EU}language": "Language", f"{EU}access-right": "Access right",
           f"{EU}file-type": "File type", f"{EU}frequency": "Frequency",
           f"{EU}data-theme": "Data theme", "http://purl.org/adms/publishertype/1.0": "Publisher type",
           "http://purl.org/adms/licencetype/1.0": "Licence type",
           f"{EU}planned-availability": "Planned availability"}
ADMS_SCHEMES = ("http://purl.org/adms/publishertype/", "http://purl.org/adms/licencetype/")


def _scheme(iri: URIRef) -> URIRef | None:
    """The EU authority table (or ADMS publisher-type scheme) a vocabulary term belongs to."""
    text = str(iri)
    if text.startswith(EU) and text.rsplit("/", 1)[0] in SCHEMES:
        return URIRef(text.rsplit("/", 1)[0])
    for base in ADMS_SCHEMES:
        if text.startswith(base) and text not in SCHEMES:
            return URIRef(f"{base}1.0")
    return None


def _zh(text: str) -> Literal:
    return Literal(text, lang="zh")


def _when(text: str) -> Literal:
    return Literal(datetime.fromisoformat(text).isoformat(), datatype=XSD.dateTime)


class _Builder:
    def __init__(self, public_url: str) -> None:
        self.base = public_url.rstrip("/")
        self.g = Graph()
        for prefix, iri in CONTEXT.items():
            self.g.bind(prefix, iri)

    def iri(self, path: str) -> URIRef:
        return URIRef(f"{self.base}/{path}")

    def add(self, s, p, o) -> None:
        self.g.add((s, p, o))

    def typed(self, iri: URIRef, *classes: URIRef, label: tuple[str, str | None] | None = None) -> URIRef:
        for cls in classes:
            self.add(iri, RDF.type, cls)
        scheme = _scheme(iri)
        if scheme is not None:  # a term of a controlled vocabulary names its scheme
            self.add(iri, SKOS.inScheme, scheme)
            self.add(scheme, RDF.type, SKOS.ConceptScheme)
            self.add(scheme, DCTERMS.title, Literal(SCHEMES[str(scheme)], lang="en"))
        if label:
            self.add(iri, SKOS.prefLabel if SKOS.Concept in classes else RDFS.label, _zh(label[0]))
            if label[1]:
                self.add(iri, SKOS.prefLabel if SKOS.Concept in classes else RDFS.label,
                         Literal(label[1], lang="en"))
        return iri

    def agent(self, code: str, name: str, name_en: str | None = None) -> URIRef:
        agent = self.typed(self.iri(f"id/agent/{code}"), FOAF.Agent, FOAF.Organization)
        self.add(agent, FOAF.name, _zh(name))
        if name_en:
            self.add(agent, FOAF.name, Literal(name_en, lang="en"))
        self.add(agent, DCTERMS.identifier, Literal(code))
        self.add(agent, DCTERMS.type, self.typed(PUBLISHER_TYPE, SKOS.Concept,
                                                 label=("地方政府机构", "Regional authority")))
        return agent

    def contact(self, code: str, name: str, page: str) -> URIRef:
        point = self.typed(self.iri(f"id/agent/{code}/contact"), VCARD.Kind, VCARD.Organization)
        self.add(point, VCARD.fn, _zh(name))
        self.add(point, VCARD.hasURL, URIRef(page))
        return point

    def common(self) -> tuple[URIRef, URIRef]:
        """Shanxi and the Chinese language, typed."""
        shanxi = self.typed(self.iri("id/division/140000"), DCTERMS.Location)
        self.add(shanxi, SKOS.prefLabel, _zh("山西省"))
        self.add(shanxi, SKOS.prefLabel, Literal("Shanxi", lang="en"))
        self.add(shanxi, DCTERMS.identifier, Literal("140000"))  # GB/T 2260
        self.add(shanxi, DCAT.bbox, Literal(SHANXI_BBOX, datatype=GSP.wktLiteral))
        self.add(shanxi, DCAT.centroid, Literal(SHANXI_CENTROID, datatype=GSP.wktLiteral))
        self.typed(LANGUAGE_ZH, DCTERMS.LinguisticSystem)
        self.typed(PUBLIC, DCTERMS.RightsStatement, SKOS.Concept, label=("公开", "Public"))
        return shanxi, LANGUAGE_ZH


def _licence(b: _Builder, licence) -> URIRef:
    iri = b.typed(URIRef(licence.path), DCTERMS.LicenseDocument, label=(licence.title, None))
    b.add(iri, DCTERMS.type, b.typed(URIRef(f"http://purl.org/adms/licencetype/{licence.kind}"),
                                     SKOS.Concept, label=(licence.kind, licence.kind)))
    return iri


def _distribution(b: _Builder, dataset_iri: URIRef, package: dict, fmt: str, key: str,
                  entry: dict, licence: URIRef) -> URIRef:
    version = package["version"]
    dist = b.typed(URIRef(f"{dataset_iri}/{version}/{fmt}"), DCAT.Distribution)
    url = URIRef(absolute(b.base, key))
    b.add(dist, DCTERMS.title, _zh(f"{package['title']}（{fmt.upper()}，版本 {version}）"))
    b.add(dist, DCTERMS.description, _zh(f"{package['title']}，{DESCRIBED[fmt]}；版本 {version}，"
                                         f"数据获取至 {package['created'][:10]}"))
    b.add(dist, DCAT.accessURL, url)
    b.add(dist, DCAT.downloadURL, url)
    media = b.typed(URIRef(IANA + entry["mediatype"]), DCTERMS.MediaType)
    b.add(dist, DCAT.mediaType, media)
    b.add(dist, DCTERMS["format"], b.typed(URIRef(f"{EU}file-type/{FILE_TYPES[fmt]}"),
                                           DCTERMS.MediaTypeOrExtent))
    b.add(dist, DCTERMS.license, licence)
    b.add(dist, DCAT.byteSize, Literal(entry["bytes"], datatype=XSD.nonNegativeInteger))
    checksum = b.typed(URIRef(f"{dist}#sha256"), SPDX.Checksum)
    b.add(checksum, SPDX.algorithm, b.typed(SPDX.checksumAlgorithm_sha256, SPDX.ChecksumAlgorithm))
    b.add(checksum, SPDX.checksumValue, Literal(entry["sha256"], datatype=XSD.hexBinary))
    b.add(dist, SPDX.checksum, checksum)
    b.add(dist, DCTERMS.issued, _when(package["jinshu"]["published_at"]))
    b.add(dist, DCTERMS.modified, _when(package["jinshu"]["published_at"]))
    b.add(dist, DCTERMS.language, LANGUAGE_ZH)
    b.add(dist, DCTERMS.conformsTo, b.typed(DATAPACKAGE_SPEC, DCTERMS.Standard))
    b.add(dist, DCATAP.availability, b.typed(TEMPORARY, SKOS.Concept, label=("临时", "Temporary")))
    return dist


def _describe(b: _Builder, iri: URIRef, package: dict, agent: URIRef, contact: URIRef,
              shanxi: URIRef, page: str) -> None:
    """What a dataset and each of its versions say alike."""
    info, stamp = package["jinshu"], package["jinshu"]["provenance"]
    theme = THEMES[info["theme"]]
    licence = LICENCES[package["licenses"][0]["name"]]
    b.add(iri, DCTERMS.title, _zh(package["title"]))
    b.add(iri, DCTERMS.description, _zh(package["description"] or package["title"]))
    b.add(iri, DCTERMS.publisher, agent)
    b.add(iri, DCTERMS.creator, agent)
    b.add(iri, DCAT.contactPoint, contact)
    b.add(iri, DCAT.theme, b.typed(URIRef(theme.iri), SKOS.Concept, label=(theme.label, theme.label_en)))
    for word in package["keywords"]:
        b.add(iri, DCAT.keyword, _zh(word))
    b.add(iri, DCTERMS.accessRights, PUBLIC)
    b.add(iri, DCTERMS.language, LANGUAGE_ZH)
    b.add(iri, DCTERMS.spatial, shanxi)
    b.add(iri, DCTERMS.accrualPeriodicity, b.typed(
        URIRef(f"{EU}frequency/{info['accrual_periodicity']}"), DCTERMS.Frequency))
    b.add(iri, DCTERMS.license, _licence(b, licence))
    b.add(iri, DCAT.landingPage, b.typed(URIRef(page), FOAF.Document))
    temporal = b.typed(URIRef(f"{iri}#acquired"), DCTERMS.PeriodOfTime)
    b.add(temporal, DCAT.startDate, _when(stamp["acquired_from"]))
    b.add(temporal, DCAT.endDate, _when(stamp["acquired_at"]))
    b.add(iri, DCTERMS.temporal, temporal)
    statement = b.typed(URIRef(f"{iri}#provenance"), DCTERMS.ProvenanceStatement)
    b.add(statement, RDFS.label, _zh(f"数据来源：{stamp['department']}《{stamp['title']}》；"
                                      f"获取日期：{stamp['acquired_at'][:10]}；版本：{stamp['version']}"))
    b.add(iri, DCTERMS.provenance, statement)


def _version(b: _Builder, dataset_iri: URIRef, package: dict, agent: URIRef, contact: URIRef,
             shanxi: URIRef, page: str) -> tuple[URIRef, list[URIRef]]:
    version, dataset_id = package["version"], package["jinshu"]["provenance"]["dataset"]
    iri = b.typed(URIRef(f"{dataset_iri}/{version}"), DCAT.Dataset)
    _describe(b, iri, package, agent, contact, shanxi, page)
    b.add(iri, DCTERMS.identifier, Literal(f"{dataset_id}/{version}"))
    b.add(iri, DCAT3.version, Literal(version))
    b.add(iri, DCTERMS.issued, _when(package["jinshu"]["published_at"]))
    b.add(iri, DCTERMS.modified, _when(package["jinshu"]["published_at"]))
    licence = URIRef(LICENCES[package["licenses"][0]["name"]].path)
    files = package["jinshu"]["provenance"]["files"]
    prefix = f"{dataset_id}/{version}/"
    dists = [_distribution(b, dataset_iri, package, fmt, prefix + data_file(dataset_id, fmt),
                           files[data_file(dataset_id, fmt)], licence) for fmt in FORMATS]
    for dist in dists:
        b.add(iri, DCAT.distribution, dist)
    b.add(iri, FOAF.page, b.typed(URIRef(absolute(b.base, prefix + PACKAGE)), FOAF.Document))
    b.add(iri, FOAF.page, b.typed(URIRef(absolute(b.base, prefix + STAMP)), FOAF.Document))
    return iri, dists


def build(public_url: str, datasets: Iterable[tuple[dict, list[dict]]], now: datetime) -> Graph:
    """The catalog graph. ``datasets``: (pointer, packages of its kept versions, newest first),
    in the order they are listed (livelihood first)."""
    b = _Builder(public_url)
    shanxi, _ = b.common()
    catalog = b.typed(b.iri(CATALOG_JSONLD.replace(".jsonld", "")), DCAT.Catalog)
    platform = b.agent("platform", PUBLISHER, PUBLISHER_EN)
    for text, lang in zip(TITLE, ("zh", "en"), strict=True):
        b.add(catalog, DCTERMS.title, Literal(text, lang=lang))
    for text, lang in zip(DESCRIPTION, ("zh", "en"), strict=True):
        b.add(catalog, DCTERMS.description, Literal(text, lang=lang))
    b.add(catalog, DCTERMS.publisher, platform)
    b.add(catalog, DCTERMS.license, _licence(b, LICENCES["CC0-1.0"]))  # the catalog's metadata
    b.add(catalog, FOAF.homepage, b.typed(b.iri(PAGE), FOAF.Document))
    b.add(catalog, DCTERMS.language, LANGUAGE_ZH)
    b.add(catalog, DCTERMS.spatial, shanxi)
    b.add(catalog, DCTERMS.modified, Literal(now.isoformat(), datatype=XSD.dateTime))
    scheme = b.typed(URIRef(THEME_SCHEME), SKOS.ConceptScheme)
    b.add(scheme, DCTERMS.title, Literal(SCHEMES[THEME_SCHEME], lang="en"))
    b.add(catalog, DCAT.themeTaxonomy, scheme)
    issued = []
    for pointer, packages in datasets:
        current, first = packages[0], packages[-1]
        stamp = current["jinshu"]["provenance"]
        dataset_iri = b.typed(b.iri(f"id/dataset/{pointer['dataset']}"), DCAT.Dataset)
        page = absolute(b.base, f"{pointer['dataset']}/{PAGE}")
        agent = b.agent(stamp["department_code"], stamp["department"])
        contact = b.contact(stamp["department_code"], stamp["department"], page)
        _describe(b, dataset_iri, current, agent, contact, shanxi, page)
        b.add(dataset_iri, DCTERMS.identifier, Literal(pointer["dataset"]))
        b.add(dataset_iri, DCAT3.version, Literal(current["version"]))
        b.add(dataset_iri, DCTERMS.issued, _when(first["jinshu"]["published_at"]))
        b.add(dataset_iri, DCTERMS.modified, _when(current["jinshu"]["published_at"]))
        issued.append(first["jinshu"]["published_at"])
        for package in packages:
            version, dists = _version(b, dataset_iri, package, agent, contact, shanxi, page)
            b.add(dataset_iri, DCAT3.hasVersion, version)
            if package is current:
                b.add(dataset_iri, DCAT3.hasCurrentVersion, version)
                for dist in dists:
                    b.add(dataset_iri, DCAT.distribution, dist)
        b.add(catalog, DCAT.dataset, dataset_iri)
    if issued:
        b.add(catalog, DCTERMS.issued, _when(min(issued)))
    return b.g


def serialize(graph: Graph) -> dict[str, bytes]:
    """``catalog.jsonld`` (compacted with the DCAT prefixes) and ``catalog.ttl``."""
    return {"catalog.jsonld": graph.serialize(format="json-ld", context=CONTEXT, indent=2,
                                              ensure_ascii=False).encode("utf-8"),
            "catalog.ttl": graph.serialize(format="turtle").encode("utf-8")}


def version_facts(graph: Graph, dataset_id: str, version: str) -> dict | None:
    """What the catalog says of one version (for ``jinshu provenance verify``): department,
    acquisition period, publication time and each file's SHA-256; None when not listed."""
    iri = next((s for s in graph.subjects(DCTERMS.identifier, Literal(f"{dataset_id}/{version}"))
                if (s, RDF.type, DCAT.Dataset) in graph), None)
    if iri is None:
        return None
    agent = graph.value(iri, DCTERMS.publisher)
    temporal = graph.value(iri, DCTERMS.temporal)
    files = {}
    for dist in graph.objects(iri, DCAT.distribution):
        url = str(graph.value(dist, DCAT.downloadURL))
        checksum = graph.value(dist, SPDX.checksum)
        files[url.rsplit("/", 1)[-1]] = {
            "sha256": str(graph.value(checksum, SPDX.checksumValue)),
            "bytes": int(graph.value(dist, DCAT.byteSize)), "url": url}

    def moment(node, prop) -> str | None:
        value = graph.value(node, prop) if node is not None else None
        return datetime.fromisoformat(str(value)).isoformat() if value is not None else None

    names = sorted(str(n) for n in graph.objects(agent, FOAF.name)) if agent is not None else []
    return {"dataset": dataset_id, "version": str(graph.value(iri, DCAT3.version)),
            "department": names[0] if names else None,
            "department_code": str(graph.value(agent, DCTERMS.identifier)) if agent else None,
            "acquired_from": moment(temporal, DCAT.startDate),
            "acquired_at": moment(temporal, DCAT.endDate),
            "published_at": moment(iri, DCTERMS.issued), "files": files}


def parse(data: bytes, name: str) -> Graph:
    """A catalog file read back (``.ttl`` as Turtle, anything else as JSON-LD)."""
    return Graph().parse(data=data, format="turtle" if name.endswith(".ttl") else "json-ld")
