"""An open-data product: which fields open, how records are de-identified, and the files.

Pure: a frame of stored records in, the product's rows, Frictionless package
and file bytes out. Which field opens how is the one exit policy
(:func:`jinshu.protect.policy.on_exit`); rare quasi-identifier combinations
are suppressed (k-anonymity); a dataset whose contract asks for
``open.aggregate`` opens as counts and sums per group instead of records.
"""

from __future__ import annotations

import io
import json

import pandas as pd

from jinshu.catalog import Contract, FieldSpec
from jinshu.open.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, stamp
from jinshu.protect import policy
from jinshu.vocab import mask

LICENSE = {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
           "path": "https://creativecommons.org/licenses/by/4.0/"}
ACCRUAL = {"daily": "R/P1D", "weekly": "R/P1W", "monthly": "R/P1M", "quarterly": "R/P3M",
           "yearly": "R/P1Y"}
RECORD_COUNT = "record_count"
PROVENANCE_FIELDS = (
    {"name": SOURCE_DEPARTMENT, "title": "数据来源部门", "type": "string"},
    {"name": SOURCE_DATASET, "title": "来源数据集", "type": "string"},
    {"name": ACQUIRED_ON, "title": "数据获取日期", "type": "date"},
)
_TABLE_TYPES = {"string": "string", "integer": "integer", "decimal": "number", "date": "date"}


def treatment(spec: FieldSpec, contract: Contract) -> str:
    """``keep``, ``mask`` or ``drop`` for one field in open data (the one exit policy)."""
    return policy.on_exit(spec, contract, policy.OPEN_DATA)


def published_fields(contract: Contract) -> list[FieldSpec]:
    return [f for f in contract.fields if treatment(f, contract) != "drop"]


def suppress_rare(frame: pd.DataFrame, quasi_identifiers: list[str], k: int) -> pd.DataFrame:
    """Drop rows whose quasi-identifier combination occurs fewer than ``k`` times."""
    if not quasi_identifiers or frame.empty:
        return frame
    sizes = frame.groupby(quasi_identifiers, dropna=False)[quasi_identifiers[0]].transform("size")
    return frame[sizes >= k]


def aggregate(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int]:
    """Counts and sums per group; groups of fewer than ``k`` records are suppressed."""
    spec = contract.open.aggregate
    grouped = frame.groupby(list(spec.by), dropna=False)
    out = grouped.size().rename(RECORD_COUNT).to_frame()
    for name in spec.sum:
        out[f"sum_{name}"] = grouped[name].sum(min_count=1).astype("float64").round(2)
    out["_acquired_at"] = grouped["_acquired_at"].max()
    out = out.reset_index()
    rare = out[RECORD_COUNT] < contract.open.k
    return out[~rare], int(out.loc[rare, RECORD_COUNT].sum())


def anonymize(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int]:
    """(open rows with provenance, source records suppressed for k-anonymity)."""
    if contract.open.aggregate:
        groups, suppressed = aggregate(frame, contract)
        columns = [c["name"] for c in product_fields(contract)[:-len(PROVENANCE_FIELDS)]]
        stamped = stamp(groups[columns], contract, groups["_acquired_at"])
        return stamped.reset_index(drop=True), suppressed
    out = pd.DataFrame(index=frame.index)
    for f in published_fields(contract):
        values = frame[f.name]
        out[f.name] = mask.apply(f.mask_kind, values) if treatment(f, contract) == "mask" else values
    kept_qis = [q for q in contract.open.quasi_identifiers if q in out.columns]
    safe = suppress_rare(out, kept_qis, contract.open.k)
    stamped = stamp(safe, contract, frame.loc[safe.index, "_acquired_at"])
    return stamped.reset_index(drop=True), len(out) - len(safe)


def _field(spec: FieldSpec, contract: Contract) -> dict:
    out = {"name": spec.name, "title": spec.title,
           "type": "string" if treatment(spec, contract) == "mask" else _TABLE_TYPES[spec.type]}
    if spec.values:
        out["description"] = "; ".join(f"{code}={label}" for code, label in spec.values.items())
        out["constraints"] = {"enum": list(spec.values)}
    return out


def product_fields(contract: Contract) -> list[dict]:
    """Table Schema fields of the open product, provenance columns last."""
    spec = contract.open.aggregate
    if spec:
        fields = [_field(contract.by_name[n], contract) for n in spec.by]
        fields.append({"name": RECORD_COUNT, "title": "记录数", "type": "integer"})
        fields += [{"name": f"sum_{n}", "title": f"{contract.by_name[n].title}合计", "type": "number"}
                   for n in spec.sum]
    else:
        fields = [_field(f, contract) for f in published_fields(contract)]
    return [*fields, *PROVENANCE_FIELDS]


def table_schema(contract: Contract) -> dict:
    if contract.open.aggregate:
        key = list(contract.open.aggregate.by)
    else:
        key = [k for k in contract.natural_key if treatment(contract.by_name[k], contract) == "keep"]
    return {"fields": product_fields(contract), "primaryKey": key or None}


def datapackage(contract: Contract, rows: int, suppressed: int, provenance: dict) -> dict:
    schema = {k: v for k, v in table_schema(contract).items() if v is not None}
    resource = {"profile": "tabular-data-resource", "schema": schema}
    return {
        "profile": "tabular-data-package",
        "name": contract.id.replace("_", "-"),
        "title": contract.title,
        "description": contract.description,
        "licenses": [LICENSE],
        "created": provenance["published_at"],
        "sources": [{"title": contract.department.name, "path": f"jinshu://central/{contract.id}"}],
        "keywords": ["民生"] if contract.open.livelihood else [],
        "jinshu": {**provenance, "rows": rows, "suppressed_rows": suppressed,
                   "k_anonymity": contract.open.k if contract.open.quasi_identifiers else None,
                   "update_cycle": contract.update_cycle},
        "resources": [
            {**resource, "name": f"{contract.id.replace('_', '-')}-csv", "path": f"{contract.id}.csv",
             "format": "csv", "mediatype": "text/csv", "encoding": "utf-8"},
            {**resource, "name": f"{contract.id.replace('_', '-')}-json",
             "path": f"{contract.id}.json", "format": "json", "mediatype": "application/json",
             "encoding": "utf-8"},
            {**resource, "name": f"{contract.id.replace('_', '-')}-parquet",
             "path": f"{contract.id}.parquet", "format": "parquet",
             "mediatype": "application/vnd.apache.parquet"},
        ],
    }


def render(frame: pd.DataFrame, contract: Contract, package: dict) -> dict[str, bytes]:
    """File name -> bytes of the product's four files."""
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    return {
        f"{contract.id}.csv": frame.to_csv(index=False).encode("utf-8"),
        f"{contract.id}.json": frame.to_json(orient="records", force_ascii=False,
                                             date_format="iso").encode("utf-8"),
        f"{contract.id}.parquet": parquet.getvalue(),
        "datapackage.json": json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8"),
    }


