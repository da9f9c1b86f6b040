"""An open-data product: anonymized, standardized rows, their schema, package and files.

Pure: a frame of stored records in (every column as text, as
:func:`jinshu.store.dialect.read_text_frame` reads it, plus ``_acquired_at``), the
product out. A dataset opens either as records (:mod:`jinshu.open.anonymize`) or, where
its contract asks for ``open.aggregate``, as counts and sums per group: groups of fewer
than ``k`` records climb their quasi-identifier's levels (a county into its prefecture,
then the province), what is still under ``k`` is suppressed, and sums carry cell-key
noise (:mod:`jinshu.open.perturb`).

Standardized: every GB/T 2260 code has its name alongside (``<field>_name``), every coded
field its label (``<field>_label``), dates are ISO 8601, every field has a Chinese title
and description in the schema, files are UTF-8 (the CSV with a byte-order mark, so Excel
on Chinese Windows opens it as UTF-8, and CRLF line ends, RFC 4180), and no text cell
starts a spreadsheet formula (:func:`jinshu.protect.cells.neutralize_frame`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jinshu.catalog import Contract, FieldSpec
from jinshu.open import perturb
from jinshu.open.anonymize import Disclosure, achieved_k, anonymize_records, class_sizes, qi_levels
from jinshu.open.provenance import ACQUIRED_ON, SOURCE_DATASET, SOURCE_DEPARTMENT, stamp
from jinshu.protect.cells import neutralize_frame
from jinshu.vocab import divisions
from jinshu.vocab.generalize import LEVEL_TITLES, generalize

RECORD_COUNT = "record_count"
ACQUIRED = "_acquired_at"
PROVENANCE_FIELDS = (
    {"name": SOURCE_DEPARTMENT, "title": "数据来源部门", "type": "string",
     "description": "提供该数据的政务部门 (source department)"},
    {"name": SOURCE_DATASET, "title": "来源数据集", "type": "string",
     "description": "该行数据所来自的目录数据集标识 (source dataset id)"},
    {"name": ACQUIRED_ON, "title": "数据获取日期", "type": "date",
     "description": "平台从来源部门获取该行数据所在批次的日期，ISO 8601 (acquisition date)"},
)
_TABLE_TYPES = {"string": "string", "integer": "integer", "decimal": "number", "date": "date"}


@dataclass
class Product:
    rows: pd.DataFrame  # published columns, provenance last
    fields: list[dict]  # Table Schema fields, in the same order
    primary_key: list[str]
    disclosure: Disclosure
    acquired_from: datetime | None = None  # the oldest source batch it was made from
    acquired_at: datetime | None = None  # the newest


def _is_division(spec: FieldSpec) -> bool:
    return spec.format is not None and spec.format.startswith("gb2260")


# --- reading the stored text ---------------------------------------------------------------


def typed(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The stored text as the product's types: integers (nullable), decimals, ISO dates,
    strings; ``_acquired_at`` as UTC timestamps."""
    out = frame.copy()
    for spec in contract.fields:
        if spec.name not in out.columns:
            continue
        column = out[spec.name]
        if spec.type == "integer":
            out[spec.name] = pd.to_numeric(column).round().astype("Int64")
        elif spec.type == "decimal":
            out[spec.name] = pd.to_numeric(column).astype("float64")
        elif spec.type == "date":
            out[spec.name] = column.str.slice(0, 10)
    if ACQUIRED in out.columns:
        out[ACQUIRED] = pd.to_datetime(out[ACQUIRED], utc=True, format="ISO8601")
    return out


# --- standardized columns ------------------------------------------------------------------


def _names(codes: pd.Series) -> pd.Series:
    names = {c: divisions.full_name(c) for c in codes.dropna().unique()}
    return codes.map(names).astype(object).where(codes.notna(), None)


def _with_names_and_labels(frame: pd.DataFrame, contract: Contract, columns: list[str]) -> pd.DataFrame:
    """Each GB/T 2260 code followed by its name, each coded field by its label."""
    out = {}
    for name in columns:
        out[name] = frame[name]
        spec = contract.by_name.get(name)
        if spec is None:
            continue
        if _is_division(spec):
            out[f"{name}_name"] = _names(frame[name])
        elif spec.values:
            out[f"{name}_label"] = frame[name].map(spec.values).astype(object)
    return pd.DataFrame(out, index=frame.index)


def _field(spec: FieldSpec, level: str | None = None) -> dict:
    out = {"name": spec.name, "title": spec.title, "description": spec.description,
           "type": _TABLE_TYPES[spec.type]}
    if level is not None and level not in ("exact", "county"):
        out["type"] = "string"
        out["description"] += f"（已泛化至 generalized to: {LEVEL_TITLES[level]}）"
    elif _is_division(spec) or level == "county":
        out["type"] = "string"
        out["constraints"] = {"pattern": r"\d{6}"}
    if spec.values:
        out["type"] = "string"
        out["constraints"] = {"enum": list(spec.values)}
        out["categories"] = [{"value": code, "label": label} for code, label in spec.values.items()]
    return out


def _fields(contract: Contract, columns: list[str], levels: dict[str, str]) -> list[dict]:
    out = []
    for name in columns:
        spec = contract.by_name[name]
        out.append(_field(spec, levels.get(name)))
        if _is_division(spec):
            out.append({"name": f"{name}_name", "title": f"{spec.title}名称", "type": "string",
                        "description": f"{spec.title}对应的 GB/T 2260 行政区划名称（省市县全称）"})
        elif spec.values:
            out.append({"name": f"{name}_label", "title": f"{spec.title}（名称）", "type": "string",
                        "description": f"{spec.title}代码对应的中文名称，见代码表"})
    return out


# --- aggregates ----------------------------------------------------------------------------


def _recode_small_groups(frame: pd.DataFrame, by: list[str], levels: dict[str, tuple[str, ...]],
                         k: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """Local recoding: rows in groups under ``k`` climb their quasi-identifiers' levels (the
    one with most distinct values among them first) until their group reaches ``k`` or no
    level is left; other rows stay at the first level."""
    raw = {n: frame[n] for n in levels}
    at = {n: pd.Series(0, index=frame.index) for n in levels}
    out = frame.copy()
    for n in levels:
        out[n] = generalize(levels[n][0], raw[n])
    while levels and not out.empty:
        small = class_sizes(out, by) < k
        climbable = [n for n in levels if (small & (at[n] + 1 < len(levels[n]))).any()]
        if not small.any() or not climbable:
            break
        name = max(climbable, key=lambda n: out.loc[small, n].nunique(dropna=False))
        rows = small & (at[name] + 1 < len(levels[name]))
        at[name] = at[name].where(~rows, at[name] + 1)
        for step in at[name][rows].unique():
            chosen = rows & (at[name] == step)
            out.loc[chosen, name] = generalize(levels[name][step], raw[name][chosen])
    used = {n: "/".join(dict.fromkeys(levels[n][i] for i in sorted(at[n].unique()))) for n in levels}
    return out, used


def _cell_keys(frame: pd.DataFrame, contract: Contract, groups: np.ndarray, count: int) -> np.ndarray:
    spec = contract.open.aggregate
    who = frame["_subject_key"] if "_subject_key" in frame and frame["_subject_key"].notna().all() \
        else frame["_record_hash"]
    material = who.astype("str")
    for name in (*spec.by, *spec.sum):
        material = material + "|" + frame[name].astype("str")
    keys = perturb.record_keys(material)
    cells = np.zeros(count, dtype=np.uint64)
    np.add.at(cells, groups, keys)  # wraps modulo 2**64, as the cell key is defined
    return cells


def aggregate(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, Disclosure]:
    """Counts and perturbed sums per group (groups under ``k`` generalized, then suppressed)."""
    spec, k = contract.open.aggregate, contract.open.k
    by = list(spec.by)
    levels = {n: lv for n, lv in qi_levels(contract).items() if n in by}
    recoded, used = _recode_small_groups(frame, by, levels, k)
    grouped = recoded.groupby(by, dropna=False, sort=True)
    groups = grouped.ngroup().to_numpy()
    out = grouped.size().rename(RECORD_COUNT).to_frame()
    cells = _cell_keys(frame, contract, groups, len(out))
    for name in spec.sum:
        field = contract.by_name[name]
        sums, top = grouped[name].sum(min_count=1), grouped[name].max()
        integer = field.type == "integer"
        noisy = [s + perturb.noise(int(c), f"sum_{name}", t, integer) if pd.notna(s) else s
                 for s, t, c in zip(sums.tolist(), top.tolist(), cells.tolist(), strict=True)]
        noisy = pd.Series(noisy, index=sums.index, dtype="float64")
        if field.minimum is not None and field.minimum >= 0:
            noisy = noisy.clip(lower=0)
        out[f"sum_{name}"] = noisy.round().astype("Int64") if integer else noisy.round(2)
    out[ACQUIRED] = grouped[ACQUIRED].max()
    out = out.reset_index()
    rare = out[RECORD_COUNT] < k
    kept = out[~rare].reset_index(drop=True)
    disclosure = Disclosure(
        method="aggregation per group, small groups generalized then suppressed, sums perturbed",
        k_required=k, k_achieved=int(kept[RECORD_COUNT].min()) if len(kept) else k,
        quasi_identifiers=used, suppressed_records=int(out.loc[rare, RECORD_COUNT].sum()),
        suppressed_groups=int(rare.sum()),
        removed_fields=tuple(f.name for f in contract.fields if f.name not in (*by, *spec.sum)),
        perturbation={**perturb.METHOD, "columns": [f"sum_{n}" for n in spec.sum]})
    return kept, disclosure


def _aggregate_fields(contract: Contract, levels: dict[str, str]) -> list[dict]:
    spec = contract.open.aggregate
    fields = _fields(contract, list(spec.by), {})
    for f in fields:
        if f["name"] in levels and "/" in levels[f["name"]]:
            f["description"] += ("；人数不足 k 的县（区）并入所在市（或全省）汇总，"
                                 "代码为市（省）级代码 (small counties are published within their "
                                 "prefecture or province)")
    fields.append({"name": RECORD_COUNT, "title": "记录数", "type": "integer",
                   "description": "本组的记录数（精确值；每组至少 k 条）"})
    for n in spec.sum:
        source = contract.by_name[n]
        fields.append({"name": f"sum_{n}", "title": f"{source.title}合计",
                       "type": "integer" if source.type == "integer" else "number",
                       "description": f"本组{source.title}之和，已加入单元格噪声（cell-key 方法）"
                                      "以防不同版本相减推算个体 (perturbed sum)"})
    return fields


# --- the product ---------------------------------------------------------------------------


def _moment(value) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def build(frame: pd.DataFrame, contract: Contract) -> Product:
    """The product of ``frame`` (stored records, typed by :func:`typed`)."""
    if contract.open.aggregate:
        rows, disclosure = aggregate(frame, contract)
        by = list(contract.open.aggregate.by)
        sums = [c for c in rows.columns if c.startswith("sum_") or c == RECORD_COUNT]
        body = _with_names_and_labels(rows, contract, by).join(rows[sums])
        fields = _aggregate_fields(contract, disclosure.quasi_identifiers)
        key = by
        acquired = rows[ACQUIRED]
    else:
        rows, disclosure = anonymize_records(frame, contract)
        columns = list(rows.columns)
        body = _with_names_and_labels(rows, contract, columns)
        fields = _fields(contract, columns, disclosure.quasi_identifiers)
        key = [k for k in contract.natural_key
               if k in columns and k not in disclosure.quasi_identifiers] \
            if all(k in columns for k in contract.natural_key) else []
        acquired = frame.loc[rows.index, ACQUIRED]
    stamped = stamp(body, contract, acquired)
    every = frame[ACQUIRED]  # the data as of: every stored record the product was made from
    return Product(neutralize_frame(stamped).reset_index(drop=True), [*fields, *PROVENANCE_FIELDS],
                   key, disclosure, _moment(every.min()), _moment(every.max()))


def k_of(product: Product, contract: Contract) -> int | None:
    """The k the published rows achieve, recomputed from them (what a reader can check)."""
    if contract.open.aggregate:
        counts = product.rows[RECORD_COUNT]
        return int(counts.min()) if len(counts) else None
    return achieved_k(product.rows, contract.open.qi_names)


# --- files ---------------------------------------------------------------------------------

CSV_BOM = b"\xef\xbb\xbf"
_CSV = pacsv.WriteOptions(eol="\r\n", quoting_style="needed")


_ARROW = {"integer": pa.int64(), "number": pa.float64()}


def arrow_table(rows: pd.DataFrame, fields: list[dict]) -> pa.Table:
    """The rows as Arrow columns of their schema types (text for everything else, dates too:
    the CSV writes them as ISO 8601 text, :func:`to_parquet` makes them dates)."""
    schema = pa.schema([(f["name"], _ARROW.get(f["type"], pa.string())) for f in fields])
    return pa.Table.from_pandas(rows, schema=schema, preserve_index=False)


def to_csv(table: pa.Table) -> bytes:
    """UTF-8 with a byte-order mark (Excel on Chinese Windows then reads UTF-8, not GBK),
    CRLF line ends (RFC 4180), a header row of field names, text quoted."""
    buffer = io.BytesIO()
    buffer.write(CSV_BOM)
    pacsv.write_csv(table, buffer, write_options=_CSV)
    return buffer.getvalue()


def _json_values(column: pa.ChunkedArray) -> pa.Array:
    """Each value of a column as JSON text (``null`` when missing). Text is encoded once per
    distinct value; numbers are cast by Arrow (the shortest text that reads back the same)."""
    column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = column.dictionary_encode()
        words = pa.array([json.dumps(v, ensure_ascii=False) for v in encoded.dictionary.to_pylist()],
                         pa.string())
        out = pc.take(words, encoded.indices)
    else:
        out = pc.cast(column, pa.string())
    return pc.fill_null(out, "null")


def to_json(table: pa.Table) -> bytes:
    """An array of objects, one per row, UTF-8 (Chinese as is), missing values as null; built
    column by column in Arrow (a million rows in a second or two, not a dict per row)."""
    if table.num_rows == 0:
        return b"[]"
    parts: list = []
    for i, name in enumerate(table.column_names):
        parts += [("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":",
                  _json_values(table.column(i))]
    rows = pc.binary_join_element_wise(*parts, "},\n", "").cast(pa.large_string())
    # the rows' bytes lie end to end in the array's data buffer: that is the array's body
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:rows.offset + len(rows) + 1]
    out = bytearray(b"[")
    out += memoryview(rows.buffers()[2])[offsets[0]:offsets[-1] - 2]  # no ",\n" after the last
    out += b"]"
    return bytes(out)


def to_parquet(table: pa.Table, fields: list[dict], metadata: dict[str, str]) -> bytes:
    """Typed columns (dates as dates) and ``metadata`` in the file's key-value metadata."""
    for i, f in enumerate(fields):
        if f["type"] == "date":
            dates = pc.strptime(table.column(i), format="%Y-%m-%d", unit="s").cast(pa.date32())
            table = table.set_column(i, f["name"], dates)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           **{k.encode(): v.encode() for k, v in metadata.items()}})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
