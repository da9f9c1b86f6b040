"""A batch's outcome from its chunks' stage files, for the load to store in one transaction.

Read one key partition (or one chunk) at a time, so memory holds about a chunk whatever the
file's size. What spans chunks is settled here exactly as reading the file whole would:
a record repeated in a later chunk is a duplicate of its first occurrence, and a natural
key sent with different values in two chunks (or clashing within one) sets aside every
record of that key, each quarantined with its values as received
(:func:`jinshu.repeat.dedup.settle`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa

from jinshu.catalog import Contract
from jinshu.collect.conform import ScopeViolation
from jinshu.collect.read import ROW
from jinshu.collect.rules import clash_violations
from jinshu.ingest.chunks import Manifest
from jinshu.ingest.quarantine import QUARANTINE_COLUMNS, row_rejections
from jinshu.protect import crypto, policy
from jinshu.quality.combine import combine
from jinshu.quality.results import QualityResult
from jinshu.repeat.dedup import RECORD_HASH, settle
from jinshu.store.workspace import Workspace

PROTECTED = "protect.json"  # a chunk's last stage file: its key partitions


def part_file(partition: int) -> str:
    return f"part-{partition:05d}.arrow"


def clash_file(partition: int) -> str:
    return f"clash-{partition:05d}.arrow"


def original_file(work: Workspace) -> str:
    """The chunk's records as received, declared columns only (the read, when all are)."""
    return "original.arrow" if work.exists("original.arrow") else "read.arrow"


class ChunksUnfinished(RuntimeError):
    """A chunk of the batch has not been through every stage: nothing can be loaded yet."""


class ChunkedFile:
    """What a batch's chunks produced, as :func:`jinshu.ingest.load.load_batch` stores it:
    first :meth:`partitions` (the records), then :meth:`duplicates` and :meth:`rejected`."""

    def __init__(self, contract: Contract, batch: sa.Row, manifest: Manifest, work: Workspace,
                 protector: crypto.Protector) -> None:
        self.contract, self.batch, self.manifest, self.protector = contract, batch, manifest, protector
        self.chunks = [work.chunk(i) for i in range(manifest.chunks)]
        try:
            self._facts = [c.read_json("read.json") for c in self.chunks]
            self._parts = [c.read_json(PROTECTED) for c in self.chunks]
            self.quality = combine([[QualityResult(**r) for r in c.read_json("quality.json")]
                                    for c in self.chunks])
        except FileNotFoundError as missing:
            raise ChunksUnfinished(f"batch {batch.batch_id}: a chunk has not finished its stages "
                                   "(its task failed or is still running); nothing was loaded. "
                                   "Fix: rerun the chunk's failed task") from missing
        self.distinct_records = 0  # records settled for storing, over every partition
        self._repeats: list[pd.DataFrame] = []  # across chunks, found while settling
        self._clashing: list[pd.DataFrame] = []
        self._clash_repeats: list[pd.DataFrame] = []  # repeats within a chunk of those

    @property
    def rows_in(self) -> int:
        if self.manifest.rows_in is not None:
            return self.manifest.rows_in
        return sum(f["rows_in"] for f in self._facts)

    @property
    def encoding(self) -> str | None:
        return self.manifest.encoding or self._facts[0]["encoding"]

    @property
    def header_row(self) -> int | None:
        return self.manifest.header_row or self._facts[0].get("header_row")

    @property
    def scope(self) -> list[ScopeViolation]:
        """Undeclared columns of the file, their non-empty values counted over every chunk."""
        found: dict[tuple[str, int], int] = {}
        for chunk in self.chunks:
            for v in chunk.read_json("scope.json"):
                at = (v["header"], v["position"])
                found[at] = found.get(at, 0) + v["non_empty_values"]
        return [ScopeViolation(h, n, p) for (h, p), n in found.items()]

    @property
    def consent(self) -> dict[str, tuple[int, int]]:
        """Per consent field, values kept and dropped over every chunk."""
        out: dict[str, tuple[int, int]] = {}
        for chunk in self.chunks:
            for name, (kept, dropped) in chunk.read_json("consent.json").items():
                before = out.get(name, (0, 0))
                out[name] = (before[0] + kept, before[1] + dropped)
        return out

    def partitions(self) -> Iterator[pd.DataFrame]:
        """The records to store, one key partition at a time (in key order where the key is a
        blind index), settled across chunks."""
        key = policy.key_columns(self.contract)
        for p in range(self.manifest.partitions):
            frames = [c.load(part_file(p)) for c, done in zip(self.chunks, self._parts, strict=True)
                      if p in done["parts"]]
            clashes = [c.load(clash_file(p)) for c, done in zip(self.chunks, self._parts, strict=True)
                       if p in done["clashes"]]
            if not frames:
                continue
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            del frames
            settled = settle(frame, key, pd.concat(clashes, ignore_index=True) if clashes else None)
            del frame
            self._repeats.append(settled.repeats)
            self._clashing.append(settled.clashing)
            self.distinct_records += len(settled.records)
            yield settled.records

    def duplicates(self) -> Iterator[pd.DataFrame]:
        """``_row``, ``_record_hash`` of every later occurrence of a stored record (within a
        chunk or across chunks). Read after :meth:`partitions`."""
        clashing = self._clashing_hashes()
        yield from self._repeats
        for chunk in self.chunks:
            repeats = chunk.load("repeats.arrow")
            if clashing and not repeats.empty:
                of_clash = repeats[RECORD_HASH].isin(clashing)
                self._clash_repeats.append(repeats.loc[of_clash, [ROW, RECORD_HASH]])
                repeats = repeats[~of_clash]
            yield repeats

    def rejected(self) -> Iterator[pd.DataFrame]:
        """Quarantine rows (``QUARANTINE_COLUMNS``), originals sealed where the dataset is
        sensitive. Read after :meth:`duplicates`."""
        for chunk in self.chunks:
            yield chunk.load("rejected.arrow")
        rows = {r for frame in [*self._clashing, *self._clash_repeats] for r in frame[ROW].tolist()}
        if rows:
            yield self._clash_rejections(rows)

    def _clashing_hashes(self) -> set[str]:
        return {h for frame in self._clashing for h in frame[RECORD_HASH].tolist()}

    def _clash_rejections(self, rows: set[int]) -> pd.DataFrame:
        """Quarantine rows of the records whose key clashed across chunks, as the row rules
        word them for a clash within one file."""
        out = []
        for chunk in self.chunks:
            source = original_file(chunk)
            at = chunk.load(source, columns=[ROW])[ROW].isin(rows).to_numpy()
            if not at.any():
                continue
            original = chunk.load(source)[at].set_index(ROW)
            violations = clash_violations(original.index.to_series(), self.contract)
            out.append(row_rejections(self.batch.file_key, original, violations))
        rejected = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=QUARANTINE_COLUMNS)
        rejected["original"] = crypto.seal_originals(
            rejected["original"], self.contract, self.protector,
            crypto.quarantine_rows(self.batch.batch_id, rejected["source_row"]))
        return rejected
