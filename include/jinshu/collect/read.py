"""Read one extract (CSV, XLSX or JSON; UTF-8 with or without BOM, or GB18030).

Grain of the result: one row per record the sender wrote, every value a
string exactly as written, with ``_row`` giving the record's position as the
sender sees it (the header is row 1, so the first record is row 2; in JSON
the first object is row 1). A title row (or blank rows) above the header is
skipped: the header is the row, among the first ten, that names the most of
the contract's fields, and rows keep the numbers the sender sees. Records
that cannot be parsed (ragged rows) come back separately with their raw
text, so nothing is lost. Files beyond the contract's ``limits`` are refused
whole (:mod:`jinshu.collect.guard`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from jinshu.catalog import Limits
from jinshu.collect.guard import UnreadableFile, check_lines, check_shape, check_xlsx

ROW = "_row"
SUPPORTED = (".csv", ".txt", ".xlsx", ".json")
HEADER_SEARCH_ROWS = 10
DEFAULT_LIMITS = Limits()  # a contract's ``limits`` block overrides these
HeaderScore = Callable[[list[str]], int]  # how many contract fields a row's cells name
__all__ = ["ROW", "SUPPORTED", "BadRecord", "Extract", "UnreadableFile", "read_extract"]


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
    header_row: int | None = None  # the sheet row the header was found in (JSON: None)

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
            raise not_utf8(utf8_error.start + 3 * bom) from utf8_error


def not_utf8(offset: int | None) -> UnreadableFile:
    """The file is neither UTF-8 nor GB18030 (``offset``: its first byte that is not UTF-8)."""
    where = f"bytes at offset {offset}" if offset is not None else "some bytes"
    return UnreadableFile("encoding", f"{where} are neither UTF-8 nor GB18030",
                          "re-export the extract as UTF-8 (or GB18030) text")


def header_index(rows: list[list[str]], score: HeaderScore | None) -> int:
    """Index of the header among the first rows: the first naming the most fields (else 0)."""
    if score is None:
        return 0
    scores = [score(row) for row in rows[:HEADER_SEARCH_ROWS]]
    best = max(scores, default=0)
    return scores.index(best) if best > 0 else 0


def _csv_header(text_head: str) -> list[str]:
    return next(csv.reader(io.StringIO(text_head)), [])


def _csv_header_offset(data: bytes, score: HeaderScore | None) -> tuple[int, int]:
    """(index of the header line, its byte offset) among the file's first lines."""
    lines = data[:65536].split(b"\n")[:HEADER_SEARCH_ROWS]
    index = header_index([_csv_header(line.decode("utf-8", errors="ignore")) for line in lines],
                         score)
    return index, sum(len(line) + 1 for line in lines[:index])


def longest_cell(frame: pd.DataFrame) -> tuple[int, str, int] | None:
    """(row, column, characters) of the longest value in the frame, if any."""
    best: tuple[int, str, int] | None = None
    for position, column in enumerate(frame.columns):
        if column == ROW or frame.empty:
            continue
        lengths = frame.iloc[:, position].str.len().fillna(0).to_numpy()
        at = int(lengths.argmax())
        if best is None or lengths[at] > best[2]:
            best = (int(frame[ROW].iloc[at]), str(column), int(lengths[at]))
    return best


def read_csv(data: bytes, limits: Limits = DEFAULT_LIMITS,
             score: HeaderScore | None = None) -> tuple[pd.DataFrame, list[BadRecord], int]:
    """Parse UTF-8 CSV bytes; rows with the wrong number of fields are set aside.

    Returns the records, the set-aside rows and the header's index (0 for row 1).
    """
    skipped, offset = _csv_header_offset(data, score)
    header = _csv_header(data[offset:offset + 65536].decode("utf-8", errors="ignore"))
    if not header or all(not h.strip() for h in header):
        raise UnreadableFile("header", "the file has no header row", "put the column titles in row 1")
    check_shape(0, len(header), None, limits)
    if not data.endswith(b"\n"):
        data += b"\n"  # pyarrow cannot skip a header that has no line end
    bad: list[BadRecord] = []

    def set_aside(row: pacsv.InvalidRow) -> str:
        bad.append(BadRecord(
            row=row.number + skipped, rule="ragged_row",
            detail=f"row has {row.actual_columns} fields, the header has {row.expected_columns}",
            raw=row.text,
        ))
        return "skip"

    names = [f"c{i}" for i in range(len(header))]
    block = max(1 << 24, 2 * limits.max_line_kb * 1024)  # a line never straddles two blocks
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data).slice(offset)),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1,
                                       block_size=block),
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
    rows = pd.RangeIndex(skipped + 2, skipped + total + 2)
    if bad:
        rows = rows.difference(pd.Index([b.row for b in bad]))
    frame[ROW] = rows.to_numpy()
    check_shape(total, len(header), longest_cell(frame), limits)
    return frame, bad, skipped


def read_xlsx(data: bytes, limits: Limits = DEFAULT_LIMITS,
              score: HeaderScore | None = None) -> tuple[pd.DataFrame, int]:
    """The first sheet's records and the header's index (0 for row 1); the workbook is
    checked against ``limits`` before it is parsed."""
    from python_calamine import CalamineError, CalamineWorkbook

    check_xlsx(data, limits)
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        cells = sheet.to_python(skip_empty_area=False)
    except (CalamineError, ValueError, IndexError) as error:  # its text may quote the sheet
        raise UnreadableFile("xlsx", "the file is not a readable Excel workbook (damaged, cut "
                             "short, or another format renamed .xlsx)",
                             "open it in Excel or WPS and save it again as .xlsx, or export "
                             "it as CSV") from error
    if not cells:
        raise UnreadableFile("header", "the workbook's first sheet is empty", "put the data on sheet 1")
    skipped = header_index([[_cell_text(c) for c in row] for row in cells[:HEADER_SEARCH_ROWS]],
                           score)
    header = [_cell_text(c) for c in cells[skipped]]
    width = len(header)
    body = [[_cell_text(c) for c in row[:width]] + [""] * (width - len(row))
            for row in cells[skipped + 1:]]
    del cells
    frame = pd.DataFrame(body, columns=header, dtype="str")
    frame[ROW] = range(skipped + 2, skipped + len(body) + 2)
    check_shape(len(body), width, longest_cell(frame), limits)
    return frame, skipped


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


def read_extract(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS,
                 score: HeaderScore | None = None) -> Extract:
    """Read ``data`` (the bytes of file ``name``) into an :class:`Extract`.

    ``score`` finds the header row (see :func:`jinshu.collect.conform.header_score`);
    without it the header is row 1.
    """
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED:
        what = f"'{suffix}' files are" if suffix else "files without an extension are"
        raise UnreadableFile("file_type", f"{what} not accepted",
                             f"send one of {', '.join(SUPPORTED)}")
    if not data.strip():
        raise UnreadableFile("empty", "the file is empty", "export the extract again with its rows")
    if suffix == ".xlsx":
        frame, skipped = read_xlsx(data, limits, score)
        return Extract(frame, "xlsx", header_row=skipped + 1)
    if suffix != ".json":
        check_lines(data, limits)
    text, encoding = decode(data)
    if suffix == ".json":
        frame = read_json(text)
        check_shape(len(frame), len(frame.columns) - 1, longest_cell(frame), limits)
        return Extract(frame, encoding)
    frame, bad, skipped = read_csv(text, limits, score)
    return Extract(frame, encoding, bad, header_row=skipped + 1)
