"""``jinshu provenance verify``: is this product what the platform published?"""

from __future__ import annotations

from typing import Annotated

import typer

from jinshu.cli.common import AsJson, app, store_of
from jinshu.settings import Settings
from jinshu.store.objects import open_store

provenance_app = typer.Typer(help="Provenance: source, acquisition date, version and checksum "
                                  "of every data product.")
app.add_typer(provenance_app, name="provenance")


@provenance_app.command("verify")
def verify(
    product: Annotated[str, typer.Argument(help="a data file, datapackage.json or provenance.json "
                                                "(a local path, or a key <dataset>/<version>/<file> "
                                                "of the open-data location), or an exchange page "
                                                "saved as received (JSON)")],
    catalog: Annotated[str | None, typer.Option(help="the catalog to check against (catalog.jsonld "
                                                     "or .ttl); default: the open-data location's")] = None,
    as_json: AsJson = False,
) -> None:
    """Check a product against its stamp and the catalog; exit 0 genuine, 1 not, 2 unusable."""
    import json

    from jinshu.open import verify as checker

    settings = Settings.from_env()
    store = open_store(settings.open_data_url, settings.s3_endpoint_url)
    try:
        graph = checker.read_catalog(store, catalog)
        verdict = checker.verify(product, store, graph, store_of(settings))
    except (checker.NotAProduct, OSError, ValueError) as error:
        typer.echo(f"cannot verify: {error}", err=True)
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(json.dumps({"product": verdict.product, "dataset": verdict.dataset,
                               "version": verdict.version, "genuine": verdict.genuine,
                               "checked": verdict.checked, "catalog": graph is not None,
                               "problems": verdict.problems}, ensure_ascii=False, indent=2))
    elif verdict.genuine and verdict.exchange:
        typer.echo(f"genuine: {verdict.product} is a page of version {verdict.version} of "
                   f"{verdict.dataset}: its rows match its stamp's checksum and a delivery in the "
                   f"exchange's access log")
    elif verdict.genuine:
        typer.echo(f"genuine: {verdict.product} is version {verdict.version} of {verdict.dataset} "
                   f"({', '.join(verdict.checked)}): checksums, source, acquisition date and version "
                   f"match the stamp" + (" and the catalog" if graph is not None else
                                          " (no catalog found to compare with)"))
    else:
        typer.echo(f"NOT GENUINE: {verdict.product} (version {verdict.version} of {verdict.dataset}):")
        for problem in verdict.problems:
            typer.echo(f"  - {problem}")
    raise typer.Exit(0 if verdict.genuine else 1)
