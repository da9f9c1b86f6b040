"""Caps on one extract, checked before and after parsing (the contract's ``limits``).

A file that would take the reader past a cap (a cell at ``XFD1048576``, a
300 MB shared string packed into 300 KB, a 200 MB line) is refused whole
with an :class:`UnreadableFile` naming the limit and the fix, before its
size in memory is ever asked for. The checks read the zip's directory and
stream the sheet's XML: their own memory stays a few megabytes.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from posixpath import join, normpath

from jinshu.catalog import Limits

MB = 1 << 20
CHUNK = MB
INFLATE_GRACE = MB  # parts smaller than this unpacked are never a bomb (as Apache POI does)
# Rules under which a file is refused for its size alone: the same bytes may be dropped again
# once the contract's limit is raised (they are not a repeat of a file taken in).
LIMIT_RULES = frozenset({"file_too_large", "line_too_long", "xlsx_inflation", "too_many_rows",
                         "too_many_columns", "too_many_cells", "cell_too_long", "memory_limit"})
UTF8_ENTITY_BYTES = 6  # one character of XML text is at most this many bytes (&quot;)
_CELL_REF = re.compile(rb"<c\b[^>]*?\sr=\"([A-Z]{1,4})([0-9]{1,8})\"")
_ROW_REF = re.compile(rb"<row\b[^>]*?\sr=\"([0-9]{1,8})\"")
_DIMENSION = re.compile(rb"<dimension\b[^>]*?\sref=\"(?:[A-Z]+[0-9]+:)?([A-Z]{1,4})([0-9]{1,8})\"")
_SHEET_RID = re.compile(rb"<sheet\b[^>]*?\sr:id=\"([^\"]+)\"")


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; the batch is quarantined with this reason."""

    def __init__(self, rule: str, detail: str, fix: str) -> None:
        self.rule, self.detail, self.fix = rule, detail, fix
        super().__init__(f"{detail}. Fix: {fix}")


def _raise_it(limit: str) -> str:
    return f"or ask the platform team to raise limits.{limit} in the dataset's contract"


def check_size(size_bytes: int, limits: Limits) -> None:
    """The file as dropped is within ``max_file_mb``."""
    if size_bytes > limits.max_file_mb * MB:
        raise UnreadableFile(
            "file_too_large", f"the file is {size_bytes / MB:,.0f} MB, above the cap of "
            f"{limits.max_file_mb:,} MB", f"split the extract into smaller files, {_raise_it('max_file_mb')}")


class LongRuns:
    """Finds the first run of more than ``cap`` bytes without ``separator`` in a stream fed
    block by block; counts the separators before it (its line, for a line end).

    Jumps to the last separator within reach of the run's start, so a stream is searched
    in about ``size / cap`` steps, not one per line.
    """

    def __init__(self, separator: bytes, cap: int) -> None:
        self.separator, self.cap = separator, cap
        self.offset = self.start = 0  # the next block's and the current run's offsets
        self.before_start = 0  # separators before the current run

    def feed(self, chunk: bytes) -> int | None:
        """The offset of the first long run once it shows, else None."""
        pos, begins = 0, 0  # where to search next, where separators are not yet counted
        while (reach := self.start + self.cap + 1 - self.offset) <= len(chunk):
            found = chunk.rfind(self.separator, pos, reach)
            if found == -1:
                return self.start
            self.before_start += chunk.count(self.separator, begins, found + 1)
            self.start, pos = self.offset + found + 1, found + 1
            begins = pos
        found = chunk.rfind(self.separator, pos)
        if found != -1:
            self.before_start += chunk.count(self.separator, begins, found + 1)
            self.start = self.offset + found + 1
        self.offset += len(chunk)
        return self.start if self.offset - self.start > self.cap else None


def first_long_run(chunks: Iterable[bytes], separator: bytes, cap: int) -> int | None:
    """Offset of the first run of more than ``cap`` bytes without ``separator``, else None."""
    runs = LongRuns(separator, cap)
    for chunk in chunks:
        if (found := runs.feed(chunk)) is not None:
            return found
    return None


def line_too_long(line: int, limits: Limits) -> UnreadableFile:
    return UnreadableFile(
        "line_too_long", f"line {line} is longer than the cap of {limits.max_line_kb:,} KB "
        "(no line end found within it)", "end every record with a line break (one record per "
        f"line), {_raise_it('max_line_kb')}")


def check_lines(data: bytes, limits: Limits) -> None:
    """No CSV line is longer than ``max_line_kb`` (a single 200 MB line is refused)."""
    runs = LongRuns(b"\n", limits.max_line_kb * 1024)
    if runs.feed(data) is not None:
        raise line_too_long(runs.before_start + 1, limits)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _open_zip(data: bytes) -> zipfile.ZipFile:
    import io

    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise UnreadableFile("xlsx", "the file is not a readable Excel workbook (damaged, cut "
                             "short, or another format renamed .xlsx)",
                             "open it in Excel or WPS and save it again as .xlsx, or export "
                             "it as CSV") from error


def check_inflation(book: zipfile.ZipFile, limits: Limits) -> None:
    """Every part unpacks to at most ``max_inflate_ratio`` times its packed size, and the
    whole workbook to at most ``max_file_mb`` (from the zip's directory; nothing unpacked)."""
    total = 0
    for info in book.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > INFLATE_GRACE and ratio > limits.max_inflate_ratio:
            raise UnreadableFile(
                "xlsx_inflation", f"part {info.filename} unpacks {ratio:,.0f} times larger than it is "
                f"packed ({info.file_size / MB:,.0f} MB), above the cap of {limits.max_inflate_ratio}",
                "export the workbook again from the source system (such packing does not come from "
                f"a spreadsheet program), {_raise_it('max_inflate_ratio')}")
    if total > limits.max_file_mb * MB:
        raise UnreadableFile(
            "file_too_large", f"the workbook unpacks to {total / MB:,.0f} MB, above the cap of "
            f"{limits.max_file_mb:,} MB",
            f"split the workbook into smaller files, {_raise_it('max_file_mb')}")


def first_sheet(book: zipfile.ZipFile) -> str:
    """The path of the workbook's first sheet, as the reader will pick it."""
    names = set(book.namelist())
    try:
        workbook = book.read("xl/workbook.xml")[: 4 * MB]
        rels = book.read("xl/_rels/workbook.xml.rels")[: 4 * MB]
    except KeyError as error:
        raise UnreadableFile("xlsx", "the workbook has no sheet list (xl/workbook.xml)",
                             "save the workbook again as .xlsx from the spreadsheet program") from error
    rid = _SHEET_RID.search(workbook)
    if rid:
        for rel in re.finditer(rb"<Relationship\b[^>]*>", rels):
            if re.search(rb"\bId=\"" + re.escape(rid.group(1)) + rb"\"", rel.group(0)):
                target = re.search(rb"\bTarget=\"([^\"]+)\"", rel.group(0))
                if target:
                    path = target.group(1).decode()
                    path = path.lstrip("/") if path.startswith("/") else normpath(join("xl", path))
                    if path in names:
                        return path
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    if not sheets:
        raise UnreadableFile("xlsx", "the workbook has no sheet", "put the data on sheet 1")
    return sheets[0]


def _stream(book: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with book.open(name) as part:
        while chunk := part.read(CHUNK):
            yield chunk


def sheet_extent(book: zipfile.ZipFile, sheet: str) -> tuple[int, int]:
    """(last row, last column) the sheet claims or uses: its ``<dimension>`` and every
    row and cell reference, streamed."""
    rows = columns = 0
    tail = b""
    for chunk in _stream(book, sheet):
        text = tail + chunk
        cut = max(text.rfind(b"<"), 0)  # a tag cut by the chunk's end is read with the next
        scan, tail = text[:cut], text[cut:]
        for letters, digits in (*_DIMENSION.findall(scan), *_CELL_REF.findall(scan)):
            rows, columns = max(rows, int(digits)), max(columns, _column_number(letters))
        for digits in _ROW_REF.findall(scan):
            rows = max(rows, int(digits))
        if len(tail) > CHUNK:
            tail = tail[-CHUNK:]
    return rows, columns


def check_xlsx(data: bytes, limits: Limits) -> None:
    """Inflation, sheet extent (rows, columns, cells) and shared-string length, before
    the workbook is parsed."""
    with _open_zip(data) as book:
        check_inflation(book, limits)
        sheet = first_sheet(book)
        rows, columns = sheet_extent(book, sheet)
        where = f"the first sheet reaches row {rows:,} and column {columns:,}"
        fix = "delete the rows and columns after the data (or send the extract as CSV)"
        if rows > limits.max_rows:
            raise UnreadableFile("too_many_rows", f"{where}, above the cap of {limits.max_rows:,} rows",
                                 f"{fix}, split it into smaller files, {_raise_it('max_rows')}")
        if columns > limits.max_columns:
            raise UnreadableFile("too_many_columns", f"{where}, above the cap of "
                                 f"{limits.max_columns:,} columns", f"{fix}, {_raise_it('max_columns')}")
        if rows * columns > limits.max_cells:
            raise UnreadableFile("too_many_cells", f"{where}: {rows * columns:,} cells to read, above "
                                 f"the cap of {limits.max_cells:,}", f"{fix}, {_raise_it('max_cells')}")
        shared = "xl/sharedStrings.xml"
        cap = limits.max_cell_chars * UTF8_ENTITY_BYTES
        if shared in book.namelist() and first_long_run(_stream(book, shared), b"<", cap) is not None:
            raise UnreadableFile("cell_too_long", "a text in the workbook's shared strings is longer "
                                 f"than the cap of {limits.max_cell_chars:,} characters per cell",
                                 f"shorten the long text, {_raise_it('max_cell_chars')}")


def check_shape(rows: int, columns: int, longest: tuple[int, str, int] | None,
                limits: Limits) -> None:
    """Records, columns and the longest cell (row, column, characters) of a parsed file."""
    if rows > limits.max_rows:
        raise UnreadableFile("too_many_rows", f"the file has {rows:,} records, above the cap of "
                             f"{limits.max_rows:,}", f"split it into smaller files, {_raise_it('max_rows')}")
    if columns > limits.max_columns:
        raise UnreadableFile("too_many_columns", f"the file has {columns:,} columns, above the cap "
                             f"of {limits.max_columns:,}",
                             f"send only the contract's columns, {_raise_it('max_columns')}")
    if longest is not None and longest[2] > limits.max_cell_chars:
        row, column, chars = longest
        raise UnreadableFile("cell_too_long", f"row {row}, column {column} holds {chars:,} characters, "
                             f"above the cap of {limits.max_cell_chars:,}",
                             f"shorten the value, {_raise_it('max_cell_chars')}")

