"""A batch's chunks: its file cut into chunks of records, so that workers share one file and
memory holds one chunk (``JINSHU_CHUNK_ROWS`` records, 250,000 by default).

A CSV (or .txt) file is read once, as a stream (:mod:`jinshu.collect.stream`), and each
chunk's records are written to its stage folder (``<batch>/c00000/``) as the read stage's
output; ``<batch>/manifest.json``, written last, says how many chunks there are and what the
read found (encoding, header row, rows in). A workbook or JSON file is one chunk, read by
the read stage (a workbook's size is capped by the contract's limits). The stages run per
chunk; the load takes every chunk of the batch in one transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

import sqlalchemy as sa

from jinshu.catalog import Contract
from jinshu.collect.conform import header_score
from jinshu.collect.guard import check_size
from jinshu.collect.read import ROW
from jinshu.collect.stream import CsvStream
from jinshu.ingest.quarantine import landing_store, ragged_rejections
from jinshu.protect.keys import pseudonym_key
from jinshu.repeat import ledger
from jinshu.settings import Settings
from jinshu.store.workspace import Workspace, chunk_ref

MANIFEST = "manifest.json"
STREAMED = (".csv", ".txt")  # read as a stream and cut into chunks; other files are one chunk


@dataclass(frozen=True)
class Manifest:
    """What cutting a batch's file found: its chunks and, for a streamed file, its facts."""

    chunks: int
    streamed: bool  # read at discovery (CSV); else the read stage reads the whole file
    rows_in: int | None = None  # records read, rows set aside included (streamed files)
    encoding: str | None = None
    header_row: int | None = None

    @property
    def partitions(self) -> int:
        """Key partitions the load settles and stores one at a time: as many as chunks, so
        that one holds about a chunk's records."""
        return self.chunks


def manifest_of(work: Workspace) -> Manifest | None:
    """The batch's manifest, None when its file was not cut yet (or its files were swept)."""
    try:
        return Manifest(**work.read_json(MANIFEST))
    except FileNotFoundError:
        return None


def refs(batch_id: str, manifest: Manifest) -> list[str]:
    return [chunk_ref(batch_id, i) for i in range(manifest.chunks)]


def split(settings: Settings, contract: Contract, batch: sa.Row, work: Workspace) -> Manifest:
    """Cut the batch's file into chunks, each written as its read stage's output.

    Raises :class:`jinshu.collect.read.UnreadableFile` for a file beyond the contract's
    limits or unreadable, :class:`FileNotFoundError` for a file gone from the landing area.
    """
    if PurePosixPath(batch.file_key).suffix.lower() not in STREAMED:
        manifest = Manifest(chunks=1, streamed=False)
        work.write_json(MANIFEST, asdict(manifest))
        return manifest
    check_size(batch.file_size, contract.limits)
    store = landing_store(settings)
    key = ledger.object_key(store, batch, pseudonym_key(settings))
    stream = CsvStream(store.chunks(key), contract.limits, header_score(contract),
                       settings.chunk_rows, reopen=lambda: store.chunks(key))
    count = 0
    for chunk in stream.chunks():
        at = work.chunk(chunk.index)
        at.save_table("read.arrow", chunk.table, [*stream.header, ROW])
        at.save("rejected_read.arrow", ragged_rejections(batch.file_key, chunk.bad))
        at.write_json("read.json", {"encoding": stream.encoding, "rows_in": chunk.rows_in,
                                    "header_row": stream.header_row})
        count += 1
    manifest = Manifest(chunks=count, streamed=True, rows_in=stream.rows_in,
                        encoding=stream.encoding, header_row=stream.header_row)
    work.write_json(MANIFEST, asdict(manifest))
    return manifest
