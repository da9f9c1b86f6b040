"""Read one extract (CSV, XLSX or JSON; UTF-8 with or without BOM, or GB18030).

Grain of the result: one row per record the sender wrote, every value a
string exactly as written, with ``_row`` giving the record's position as the
sender sees it (the header is row 1, so the first record is row 2; in JSON
the first object is row 1). Records that cannot be parsed (ragged rows) come
back separately with their raw text, so nothing is lost.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

ROW = "_row"
SUPPORTED = (".csv", ".txt", ".xlsx", ".json")


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; the batch is quarantined with this reason."""

    def __init__(self, rule: str, detail: str, fix: str) -> None:
        self.rule, self.detail, self.fix = rule, detail, fix
        super().__init__(f"{detail}. Fix: {fix}")


@dataclass(frozen=True)
class BadRecord:
    row: int
    rule: str
    detail: str
    raw: str


@dataclass
class Extract:
    frame: pd.DataFrame
    encoding: str
    bad_records: list[BadRecord] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return len(self.frame) + len(self.bad_records)


def decode(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes of the file and the encoding it was in (BOM removed)."""
    bom = data.startswith(b"\xef\xbb\xbf")
    data, encoding = (data[3:], "utf-8-sig") if bom else (data, "utf-8")
    try:
        data.decode("utf-8")
        return data, encoding
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030").encode("utf-8"), "gb18030"
        except UnicodeDecodeError:
            raise UnreadableFile(
                "encoding",
                f"bytes at offset {utf8_error.start + 3 * bom} are neither UTF-8 nor GB18030",
                "re-export the extract as UTF-8 (or GB18030) text",
            ) from utf8_error


def _csv_header(text_head: str) -> list[str]:
    return next(csv.reader(io.StringIO(text_head)), [])


def read_csv(data: bytes) -> tuple[pd.DataFrame, list[BadRecord]]:
    """Parse UTF-8 CSV bytes; rows with the wrong number of fields are set aside."""
    header = _csv_header(data[:65536].decode("utf-8", errors="ignore"))
    if not header or all(not h.strip() for h in header):
        raise UnreadableFile("header", "the file has no header row", "put the column titles in row 1")
    if not data.endswith(b"\n"):
        data += b"\n"  # pyarrow cannot skip a header that has no line end
    bad: list[BadRecord] = []

    def set_aside(row: pacsv.InvalidRow) -> str:
        bad.append(BadRecord(
            row=row.number, rule="ragged_row",
            detail=f"row has {row.actual_columns} fields, the header has {row.expected_columns}",
            raw=row.text,
        ))
        return "skip"

    names = [f"c{i}" for i in range(len(header))]
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1,
                                       block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=set_aside),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    frame = table.to_pandas()
    frame.columns = header
    # pyarrow numbers records counting the (skipped) header as 1, as the sender does.
    total = len(frame) + len(bad)
    rows = pd.RangeIndex(2, total + 2)
    if bad:
        rows = rows.difference(pd.Index([b.row for b in bad]))
    frame[ROW] = rows.to_numpy()
    return frame, bad


def read_xlsx(data: bytes) -> pd.DataFrame:
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    cells = sheet.to_python(skip_empty_area=False)
    if not cells:
        raise UnreadableFile("header", "the workbook's first sheet is empty", "put the data on sheet 1")
    header = [_cell_text(c) for c in cells[0]]
    width = len(header)
    body = [[_cell_text(c) for c in row[:width]] + [""] * (width - len(row)) for row in cells[1:]]
    frame = pd.DataFrame(body, columns=header, dtype="str")
    frame[ROW] = range(2, len(body) + 2)
    return frame


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def read_json(data: bytes) -> pd.DataFrame:
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(
            "json", f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "send a JSON array of objects, one object per record",
        ) from exc
    records = doc.get("records", doc.get("data")) if isinstance(doc, dict) else doc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UnreadableFile("json", "JSON is not an array of objects",
                             "send a JSON array of objects, one object per record")
    columns = list(dict.fromkeys(key for record in records for key in record))
    frame = pd.DataFrame({c: pd.array([_json_text(r.get(c)) for r in records], dtype="str")
                          for c in columns})
    frame[ROW] = range(1, len(records) + 1)
    return frame


def _json_text(value: object) -> str:
    """A JSON value as the sender wrote it: 1 stays '1', null is empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def read_extract(name: str, data: bytes) -> Extract:
    """Read ``data`` (the bytes of file ``name``) into an :class:`Extract`."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED:
        what = f"'{suffix}' files are" if suffix else "files without an extension are"
        raise UnreadableFile("file_type", f"{what} not accepted",
                             f"send one of {', '.join(SUPPORTED)}")
    if not data.strip():
        raise UnreadableFile("empty", "the file is empty", "export the extract again with its rows")
    if suffix == ".xlsx":
        return Extract(read_xlsx(data), "xlsx")
    text, encoding = decode(data)
    if suffix == ".json":
        return Extract(read_json(text), encoding)
    frame, bad = read_csv(text)
    return Extract(frame, encoding, bad)
