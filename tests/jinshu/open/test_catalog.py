"""The DCAT-AP catalog: parses as JSON-LD and Turtle, conforms to the DCAT-AP shapes, harvestable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import RDF, Graph, Literal, URIRef, namespace

from jinshu.open import catalog, package, publisher
from jinshu.settings import PACKAGE_DIR
from jinshu.store.engine import engine_for
from tests.jinshu.open.conftest import PUBLIC_URL, T0, ingest

DCAT, DCTERMS, FOAF = namespace.DCAT, namespace.DCTERMS, namespace.FOAF
SHAPES = PACKAGE_DIR / "open" / "shapes" / "jinshu-dcat-ap.ttl"


@pytest.fixture
def graphs(published) -> dict[str, Graph]:
    _, store = published
    return {name: catalog.parse(store.read(name), name) for name in ("catalog.jsonld", "catalog.ttl")}


def conforms(graph: Graph) -> tuple[bool, str]:
    ok, _, text = validate(graph, shacl_graph=Graph().parse(SHAPES), inference="none",
                           allow_warnings=True)
    return ok, text


def test_the_catalog_parses_as_json_ld_and_turtle_to_the_same_graph(graphs):
    jsonld, turtle = graphs["catalog.jsonld"], graphs["catalog.ttl"]
    assert len(jsonld) > 200 and len(jsonld) == len(turtle)
    assert set(jsonld) == set(turtle)


@pytest.mark.parametrize("name", ["catalog.jsonld", "catalog.ttl"])
def test_the_catalog_conforms_to_the_dcat_ap_shapes(graphs, name):
    ok, text = conforms(graphs[name])
    assert ok, text


@pytest.mark.parametrize("damage", ["relative download URL", "no issued", "blank node", "untyped format"])
def test_the_shapes_catch_what_a_harvester_could_not_use(graphs, damage):
    """Controls: each defect the issue found makes the catalog fail the shapes."""
    graph = graphs["catalog.ttl"]
    dist = next(graph.subjects(RDF.type, DCAT.Distribution))
    dataset = next(graph.subjects(DCTERMS.identifier, Literal("vaccination_sites")))
    if damage == "relative download URL":
        graph.remove((dist, DCAT.downloadURL, None))
        graph.add((dist, DCAT.downloadURL, URIRef("vaccination_sites/x.csv")))
    elif damage == "no issued":
        graph.remove((dataset, DCTERMS.issued, None))
    elif damage == "blank node":
        from rdflib import BNode

        node = BNode()
        graph.add((node, RDF.type, DCAT.Distribution))
        graph.add((dataset, DCAT.distribution, node))
    else:
        graph.remove((dist, DCTERMS["format"], None))
        graph.add((dist, DCTERMS["format"], Literal("CSV")))
    ok, _ = conforms(graph)
    assert not ok


def test_datasets_have_iris_typed_distributions_and_their_own_dates(contracts, graphs):
    graph = graphs["catalog.jsonld"]
    datasets = {str(graph.value(d, DCTERMS.identifier)): d for d in graph.subjects(RDF.type, DCAT.Dataset)
                if "/" not in str(graph.value(d, DCTERMS.identifier))}
    assert set(datasets) == {c.id for c in contracts.values() if c.is_open}
    for dataset_id, iri in datasets.items():
        assert str(iri) == f"{PUBLIC_URL}/id/dataset/{dataset_id}"
        publisher_ = graph.value(iri, DCTERMS.publisher)
        assert (publisher_, RDF.type, FOAF.Agent) in graph
        assert {n.language for n in graph.objects(publisher_, FOAF.name)} == {"zh"}
        assert {t.language for t in graph.objects(iri, DCTERMS.title)} == {"zh"}
        assert graph.value(iri, DCTERMS.accessRights) == catalog.PUBLIC
        assert graph.value(iri, DCTERMS.spatial) == URIRef(f"{PUBLIC_URL}/id/division/140000")
        assert str(graph.value(iri, DCAT.theme)).startswith(
            "http://publications.europa.eu/resource/authority/data-theme/")
        licence = graph.value(iri, DCTERMS.license)
        assert str(licence).startswith("https://") and str(licence).endswith("/")
        dists = list(graph.objects(iri, DCAT.distribution))
        assert len(dists) == 3
        for dist in dists:
            url = str(graph.value(dist, DCAT.downloadURL))
            assert url.startswith(f"{PUBLIC_URL}/{dataset_id}/") and url.rsplit(".", 1)[1] in package.FORMATS
            assert str(graph.value(dist, DCAT.mediaType)).startswith("http://www.iana.org/assignments/")
            assert str(graph.value(dist, DCTERMS["format"])).startswith(
                "http://publications.europa.eu/resource/authority/file-type/")
    assert not [s for s in graph.subjects() if not isinstance(s, URIRef)]  # no blank node


def test_issued_and_modified_are_each_datasets_own(settings, contracts):
    ingest(settings, contracts, "vaccination_sites", "a.csv", seed=1)
    ingest(settings, contracts, "enterprise_registration", "a.csv", seed=1)
    from tests.jinshu.open.conftest import publish_all

    store = publish_all(settings, contracts)
    later = T0 + timedelta(days=3)
    ingest(settings, contracts, "vaccination_sites", "b.csv", seed=2)
    publisher.publish(engine_for(settings.store_url), store, contracts["vaccination_sites"], later,
                      public_url=PUBLIC_URL)
    publisher.write_catalog(store, list(contracts.values()), later, PUBLIC_URL)
    graph = catalog.parse(store.read("catalog.ttl"), "catalog.ttl")

    def dates(dataset_id: str) -> tuple[str, str]:
        iri = URIRef(f"{PUBLIC_URL}/id/dataset/{dataset_id}")
        return str(graph.value(iri, DCTERMS.issued)), str(graph.value(iri, DCTERMS.modified))

    assert dates("vaccination_sites") == (T0.isoformat(), later.isoformat())
    assert dates("enterprise_registration") == (T0.isoformat(), T0.isoformat())
    sites = URIRef(f"{PUBLIC_URL}/id/dataset/vaccination_sites")
    assert len(list(graph.objects(sites, catalog.DCAT3.hasVersion))) == 2


def test_the_shapes_file_is_shipped_with_the_package():
    assert SHAPES.is_file() and Path(SHAPES).read_text().count("sh:NodeShape") >= 8
