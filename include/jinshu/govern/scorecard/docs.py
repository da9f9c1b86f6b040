"""GX Data Docs, rebuilt from the stored (masked) results in a throwaway GX file context."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.govern.scorecard import offline
from jinshu.govern.scorecard.facts import batch_results, has_table, pass_rates
from jinshu.protect import leakguard
from jinshu.quality import BATCH_CHECKS, gx_context

DOCS_BATCHES = 10  # latest batches per dataset rendered into Data Docs
DOCS_SITE = "jinshu"


def _snake(class_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def build_data_docs(engine: Engine, out_dir: Path, contracts: Mapping[str, Contract],
                    batches_per_dataset: int = DOCS_BATCHES) -> Path:
    """GX Data Docs from the stored (masked) results: ``out_dir/data-docs/index.html``.

    The results are rebuilt as GX validation results in a throwaway file
    context rather than kept from the run, so raw unexpected values that
    GX collects during validation never reach disk. The two batch-level checks
    are not GX expectations and appear in the scorecard only. Built in a
    staging folder; every page passes the leak guard before the previous docs
    are replaced (a hit raises ``LeakFound`` and keeps them). The pages load nothing from
    the internet (:mod:`~jinshu.govern.scorecard.offline`).
    """
    out_dir = Path(out_dir).resolve()
    staging = out_dir / f".staging-{uuid.uuid4().hex[:8]}"  # rebuilt from the store each time
    try:
        _build_docs(engine, staging, contracts, batches_per_dataset)
        offline.rewrite_pages(staging / "data-docs")
        for path in sorted((staging / "data-docs").rglob("*")):
            if path.is_file():
                leakguard.guard(str(out_dir / path.relative_to(staging)), path.read_bytes())
        offline.copy_assets(staging / "data-docs")
        _replace_folder(staging / "data-docs", out_dir / "data-docs")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(out_dir / "gx", ignore_errors=True)  # left by earlier versions
    return out_dir / "data-docs" / "index.html"


def _replace_folder(new: Path, old: Path) -> None:
    trash = old.with_name(f".{old.name}.old")
    shutil.rmtree(trash, ignore_errors=True)
    if old.exists():
        old.rename(trash)
    new.rename(old)
    shutil.rmtree(trash, ignore_errors=True)


def _build_docs(engine: Engine, out_dir: Path, contracts: Mapping[str, Contract],
                batches_per_dataset: int) -> None:
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    docs = out_dir / "data-docs"
    context = gx_context(mode="file", project_root_dir=str(out_dir))
    context.add_data_docs_site(DOCS_SITE, {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
    })
    with engine.connect() as conn:
        rates = pass_rates(conn, contracts) if has_table(conn, "quality_results") else []
        keep: list[str] = []
        for dataset_id in {r["dataset_id"] for r in rates}:
            keep += [r["batch_id"] for r in rates if r["dataset_id"] == dataset_id][-batches_per_dataset:]
        results = batch_results(conn, keep)
    by_batch: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if r["expectation_type"] and r["expectation_type"] not in BATCH_CHECKS:
            by_batch.setdefault((r["dataset_id"], r["batch_id"]), []).append(r)
    for (dataset_id, batch_id), rows in sorted(by_batch.items()):
        evrs = []
        for r in rows:
            config = ExpectationConfiguration(
                type=_snake(r["expectation_type"]), kwargs=r["kwargs"],
                meta={"id": r["expectation"], "severity": r["severity"]})
            total = r["element_count"] or 0
            pct = 100 * r["unexpected_count"] / total if total else 0.0
            evrs.append(ExpectationValidationResult(
                success=r["success"], expectation_config=config,
                result={"element_count": total, "unexpected_count": r["unexpected_count"],
                        "unexpected_percent": pct, "partial_unexpected_list": r["unexpected_sample"],
                        "observed_value": r["observed_value"]}))
        passed = sum(r["success"] for r in rows)
        run_id = RunIdentifier(run_name=batch_id, run_time=rows[0]["validated_at"])
        suite_result = ExpectationSuiteValidationResult(
            success=passed == len(rows), results=evrs, suite_name=dataset_id,
            statistics={"evaluated_expectations": len(rows), "successful_expectations": passed,
                        "unsuccessful_expectations": len(rows) - passed,
                        "success_percent": 100 * passed / len(rows)},
            meta={"run_id": run_id, "validation_time": run_id.run_time,
                  "active_batch_definition": {"datasource_name": "jinshu", "data_asset_name": dataset_id,
                                              "batch_definition_name": batch_id},
                  "batch_spec": {}, "batch_markers": {}})
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=dataset_id),
            run_id=run_id, batch_identifier=batch_id)
        context.validation_results_store.set(key, suite_result)
    context.build_data_docs(site_names=[DOCS_SITE])
