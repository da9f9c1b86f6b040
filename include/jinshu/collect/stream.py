"""Read a CSV extract as a stream of chunks: memory holds one chunk, whatever the file's size.

The file's bytes come block by block (a local file or an S3 object, streamed). Its
encoding is decided on the first block that is not plain ASCII (UTF-8 with or without a
BOM, else GB18030, as :func:`jinshu.collect.read.decode` decides for a whole file); a line
longer than ``max_line_kb`` is refused as it streams past; the header is found among the
first rows as :func:`jinshu.collect.read.read_csv` finds it. pyarrow's CSV parser then
reads the records (a quoted line break stays inside its value) and they are cut into
chunks of ``chunk_rows`` records. Records keep the row numbers the sender sees, and rows
with the wrong number of fields are set aside with their raw text, exactly as reading the
whole file gives them.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from jinshu.catalog import Limits
from jinshu.collect.guard import LongRuns, UnreadableFile, check_shape, line_too_long
from jinshu.collect.read import (
    BadRecord,
    HeaderScore,
    _csv_header,
    _csv_header_offset,
    not_utf8,
)

BOM = b"\xef\xbb\xbf"
HEAD_BYTES = 1 << 17  # the UTF-8 text the header is searched in (as the whole-file reader)
DECIDE_BYTES = 1 << 16  # the encoding is told from this much text, from its first non-ASCII byte


@dataclass
class Chunk:
    """Records ``first_row``... of the file: ``table`` holds one string column per header
    cell (``c0``, ``c1``...) and ``_row``; ``bad`` the rows set aside within its span."""

    index: int
    table: pa.Table
    bad: list[BadRecord] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.table.num_rows + len(self.bad)


class _Blocks(io.RawIOBase):
    """A read-only file over an iterator of byte blocks (what pyarrow's reader pulls from)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks, self._left = blocks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            self._left = next(self._blocks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


class CsvStream:
    """One CSV extract, read chunk by chunk; its facts (encoding, header) once it started."""

    def __init__(self, blocks: Iterable[bytes], limits: Limits, score: HeaderScore | None,
                 chunk_rows: int, reopen: Callable[[], Iterable[bytes]] | None = None) -> None:
        self.limits, self.score, self.chunk_rows = limits, score, chunk_rows
        self._raw = iter(blocks)
        self._reopen = reopen  # the same bytes again: to locate a bad byte, only on error
        self._runs = LongRuns(b"\n", limits.max_line_kb * 1024)
        self._decoder: codecs.IncrementalDecoder | None = None  # GB18030 only
        self.encoding: str | None = None  # "utf-8", "utf-8-sig" or "gb18030"
        self.header: list[str] = []
        self.header_row = 1
        self.rows_in = 0

    # --- bytes -> UTF-8 -----------------------------------------------------------------------

    def _checked(self) -> Iterator[bytes]:
        """The raw blocks, each searched for a line over the cap before it is used."""
        for block in self._raw:
            if block and self._runs.feed(block) is not None:
                raise line_too_long(self._runs.before_start + 1, self.limits)
            if block:
                yield block

    def _utf8(self) -> Iterator[bytes]:
        """The file as UTF-8, BOM removed, ending with a line break."""
        blocks, first, last = self._checked(), True, b"\n"
        for block in blocks:
            if first:
                while len(block) < len(BOM) and (more := next(blocks, None)) is not None:
                    block += more
                if block.startswith(BOM):
                    block, self.encoding = block[len(BOM):], "utf-8-sig"
            first = False
            if self.encoding is None and not block.isascii():
                while len(block) < DECIDE_BYTES and (more := next(blocks, None)) is not None:
                    block += more  # enough text to tell the two apart
                self._decide(block)
            if self._decoder is not None:
                block = self._decoder.decode(block).encode()
            if block:
                last = block
                yield block
        if self._decoder is not None and (tail := self._decoder.decode(b"", final=True).encode()):
            last = tail
            yield tail
        if self.encoding is None:
            self.encoding = "utf-8"  # ASCII only: either reading gives the same text
        if not last.endswith(b"\n"):
            yield b"\n"  # pyarrow cannot skip a header that has no line end

    def _decide(self, block: bytes) -> None:
        """UTF-8 unless the first block that is not ASCII is not UTF-8 (then GB18030)."""
        try:
            codecs.getincrementaldecoder("utf-8")().decode(block)
            self.encoding = "utf-8"
            return
        except UnicodeDecodeError:
            pass
        try:
            codecs.getincrementaldecoder("gb18030")().decode(block)
        except UnicodeDecodeError:
            raise self._not_utf8() from None
        self.encoding, self._decoder = "gb18030", codecs.getincrementaldecoder("gb18030")()

    def _not_utf8(self) -> UnreadableFile:
        """The encoding error, naming the offset of the first byte that is not UTF-8."""
        if self._reopen is None:
            return not_utf8(None)
        decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
        for block in self._reopen():
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                return not_utf8(offset + error.start)
            offset += len(block)
        return not_utf8(None)

    # --- the header and the records -----------------------------------------------------------

    def _head(self, text: Iterator[bytes]) -> tuple[bytes, int]:
        """The UTF-8 text from the header line on (its first bytes), and the header's index."""
        head = b""
        for block in text:
            head += block
            if len(head) >= HEAD_BYTES:
                break
        if not head.strip():
            raise UnreadableFile("empty", "the file is empty", "export the extract again with its rows")
        skipped, offset = _csv_header_offset(head, self.score)
        self.header = _csv_header(head[offset:offset + 65536].decode("utf-8", errors="ignore"))
        if not self.header or all(not h.strip() for h in self.header):
            raise UnreadableFile("header", "the file has no header row", "put the column titles in row 1")
        check_shape(0, len(self.header), None, self.limits)
        self.header_row = skipped + 1
        return head[offset:], skipped

    def chunks(self) -> Iterator[Chunk]:
        """The records in chunks of ``chunk_rows`` (at least one chunk, maybe empty)."""
        text = self._utf8()
        head, skipped = self._head(text)
        names = [f"c{i}" for i in range(len(self.header))]
        rows = _RowNumbers(skipped + 2)
        bad: list[BadRecord] = []

        def set_aside(row: pacsv.InvalidRow) -> str:
            number = row.number + skipped
            rows.skip(number)
            bad.append(BadRecord(
                row=number, rule="ragged_row",
                detail=f"row has {row.actual_columns} fields, the header has {row.expected_columns}",
                raw=row.text))
            return "skip"

        block = max(1 << 24, 2 * self.limits.max_line_kb * 1024)  # a line never straddles two
        reader = _open_csv(
            _Blocks(_chained(head, text)), self._not_utf8,
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1,
                                           block_size=block),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=set_aside),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )
        pending: list[pa.RecordBatch] = []
        held = index = 0
        for batch in _batches(reader, self._not_utf8):
            if batch.num_rows:
                pending.append(batch.append_column("_row", rows.take(batch.num_rows)))
                held += batch.num_rows
            self._check_rows(rows.passed + len(bad))
            while held >= self.chunk_rows or len(bad) >= self.chunk_rows:
                table = pa.Table.from_batches(pending, schema=_schema(names))
                cut = min(held, self.chunk_rows)
                yield self._chunk(index, table.slice(0, cut), bad[:])
                bad.clear()
                index, held = index + 1, held - cut
                pending = table.slice(cut).combine_chunks().to_batches() if held else []
        yield self._chunk(index, pa.Table.from_batches(pending, schema=_schema(names)), bad[:])

    def _check_rows(self, read_so_far: int) -> None:
        if read_so_far > self.limits.max_rows:
            raise UnreadableFile(
                "too_many_rows", f"the file has more than {self.limits.max_rows:,} records, "
                "above the cap", "split it into smaller files, or ask the platform team to raise "
                "limits.max_rows in the dataset's contract")

    def _chunk(self, index: int, table: pa.Table, bad: list[BadRecord]) -> Chunk:
        check_shape(0, len(self.header), _longest_cell(table, self.header), self.limits)
        chunk = Chunk(index, table.combine_chunks(), bad)
        self.rows_in += chunk.rows_in
        self._check_rows(self.rows_in)
        return chunk


class _RowNumbers:
    """The sender's row numbers of parsed records: consecutive, skipping the rows set aside
    (the parser reports a bad row before it yields any record after it, in row order)."""

    def __init__(self, first: int) -> None:
        self.first = self.next_row = first
        self._bad: list[int] = []  # set-aside rows not yet passed, in increasing order
        self._at = 0

    def skip(self, row: int) -> None:
        self._bad.append(row)

    @property
    def passed(self) -> int:
        """Records numbered so far, set-aside rows among them included."""
        return self.next_row - self.first

    def take(self, n: int) -> pa.Array:
        start, stop, at = self.next_row, self.next_row + n, self._at
        while at < len(self._bad) and self._bad[at] < stop:
            stop, at = stop + 1, at + 1  # each set-aside row inside pushes the end one further
        numbers = np.arange(start, stop, dtype=np.int64)
        if at > self._at:
            numbers = numbers[~np.isin(numbers, np.asarray(self._bad[self._at:at], dtype=np.int64))]
        self.next_row, self._at = stop, at
        if self._at > 100_000:
            del self._bad[:self._at]
            self._at = 0
        return pa.array(numbers)


def _chained(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def _open_csv(source: io.RawIOBase, not_utf8: Callable[[], UnreadableFile], **options
              ) -> pacsv.CSVStreamingReader:
    """pyarrow's streaming reader (which parses the first block as it opens)."""
    try:
        return pacsv.open_csv(source, **options)
    except pa.ArrowInvalid as error:
        if "UTF8" in str(error) or "UTF-8" in str(error):
            raise not_utf8() from None
        raise


def _batches(reader: pacsv.CSVStreamingReader, not_utf8: Callable[[], UnreadableFile]
             ) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowInvalid as error:
        if "UTF8" in str(error) or "UTF-8" in str(error):
            raise not_utf8() from None
        raise


def _schema(names: list[str]) -> pa.Schema:
    return pa.schema([*(pa.field(n, pa.string()) for n in names), pa.field("_row", pa.int64())])


def _last_row(table: pa.Table) -> int:
    return table.column("_row")[-1].as_py()


def _longest_cell(table: pa.Table, header: list[str]) -> tuple[int, str, int] | None:
    """(row, column, characters) of the longest value of the chunk, if any."""
    if table.num_rows == 0:
        return None
    best: tuple[int, str, int] | None = None
    for position, name in enumerate(header):
        lengths = pc.utf8_length(table.column(position))
        longest = pc.max(lengths).as_py() or 0
        if best is None or longest > best[2]:
            at = pc.index(lengths, longest).as_py()
            best = (table.column("_row")[at].as_py(), name, longest)
    return best
